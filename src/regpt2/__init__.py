"""regpt2: GPT-2 rebuilt from scratch and a cross-lingual NLI study, as a DVC pipeline."""

__version__ = "0.1.0"
