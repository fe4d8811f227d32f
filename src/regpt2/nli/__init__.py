"""The study's NLI task: the prompt, the batched scorer, fine-tuning and evaluation."""
