"""Pipeline stage scripts. Run as modules (`python -m stages.tokenize`) so that a stage named
like a standard-library module (`tokenize`) never shadows it."""
