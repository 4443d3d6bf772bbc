"""All SQL of the lineage module: reading the graph (`graph.py`), writing it (`graph_writer.py`), the
stored OpenLineage events (`events.py`) and a deleted project's rows (`purge.py`)."""
