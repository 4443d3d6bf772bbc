"""Serving: managed deployments answer predictions (model workers, feature join)."""
