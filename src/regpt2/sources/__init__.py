"""Where inputs come from: a source string resolved into text, datasets, tokenizers and models."""
