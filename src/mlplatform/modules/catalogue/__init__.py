"""The catalogue module."""
