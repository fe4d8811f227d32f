"""The study's analyses beyond NLI accuracy: tokenizer fertility, language selection,
translation, probing."""
