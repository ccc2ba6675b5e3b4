"""Adapters for remote image APIs, one module each, sharing one HTTP policy."""
