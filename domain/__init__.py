"""Pure domain: stdlib only, no I/O. Importable inside the Temporal workflow sandbox."""
