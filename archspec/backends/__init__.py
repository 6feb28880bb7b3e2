"""Backends: lowerings of the typed IR to other forms (PyTorch source, state-dict layouts, ...)."""
