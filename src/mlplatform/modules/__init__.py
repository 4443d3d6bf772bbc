"""Feature modules of the platform (gateway, catalogue, features, experiments, lineage)."""
