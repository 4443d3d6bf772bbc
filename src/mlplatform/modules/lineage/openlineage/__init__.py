"""OpenLineage 2-0-2 run events built from domain events, stored, and sent to an HTTP endpoint (Marquez)."""
