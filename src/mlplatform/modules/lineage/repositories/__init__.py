"""All SQL of the lineage module: reading the graph (`graph.py`), writing it (`graph_writer.py`) and the
stored OpenLineage events (`events.py`)."""
