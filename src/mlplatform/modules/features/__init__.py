"""The features module."""
