"""The one fine-tuning loop (full or LoRA) and its resumable checkpoints."""
