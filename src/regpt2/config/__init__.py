"""params.yaml as typed settings, and the named profiles written into it."""
