"""The offline demo profile's deterministic synthetic data."""
