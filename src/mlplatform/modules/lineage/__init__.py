"""The lineage module."""
