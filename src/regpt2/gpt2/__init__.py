"""The hand-written GPT-2: model, Hugging Face weight import/export, AdamW, the toy LM
pretraining."""
