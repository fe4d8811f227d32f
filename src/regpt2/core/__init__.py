"""Shared plumbing: errors, atomic files, seeds, data-parallel helpers, padding, statistics,
the XNLI languages."""
