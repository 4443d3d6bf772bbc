"""The lineage module's public facade: what other modules (and users' tooling) may import.

The lineage module needs nothing from the others but their domain events (decoded with the classes their
`api.py` re-exports); what it offers them is the vocabulary of the graph and the names under which a run
declares its inputs:

- `TRAINING_DATASET_TAG` (`mlplatform.training_dataset`): MLflow run tag or param holding the dataset
  id(s) the features API returned; `FEATURE_SERVICE_TAG` (`mlplatform.feature_service`) likewise;
- `NodeType`, `EdgeKind`, `node_id(type, key)`: how nodes are named in `GET /api/v1/lineage?node=...`;
- `training_feature_services(session, project=, model=, version=)`: the feature services a model version's
  training data came from (the serving module's default for joining features);
- `training_datasets(session, project=, model=, version=)`: the training datasets its run(s) trained on (the
  catalogue's skew guard compares their recorded feature view versions with the current ones).
"""

from __future__ import annotations

from mlplatform.modules.lineage.training_inputs import training_datasets, training_feature_services
from mlplatform.modules.lineage.vocabulary import (
    FEATURE_SERVICE_TAG,
    TRAINING_DATASET_TAG,
    EdgeKind,
    NodeType,
    named_key,
    node_id,
)

__all__ = [
    "FEATURE_SERVICE_TAG",
    "TRAINING_DATASET_TAG",
    "EdgeKind",
    "NodeType",
    "named_key",
    "node_id",
    "training_datasets",
    "training_feature_services",
]
