"""The experiments module."""
