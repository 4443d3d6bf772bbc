"""What the lineage graph is made of: node types, edge kinds, and how nodes are named.

A node is named `<type>:<key>` (`feature_view:fraud/card_stats`, `model_version:fraud/scorer/3`).
Keys of named definitions carry their project (`<project>/<name>`), so a key is unique platform-wide;
records with their own ids (training datasets, MLflow runs, deployments, validations, jobs) use that id.

Edges point downstream, the way data flows: `feature_view → training_dataset → experiment_run →
model_version → deployment`. "Upstream" of a node is its provenance, "downstream" its impact.
"""

from __future__ import annotations

from enum import StrEnum

from mlplatform.kernel.constraints import whole
from mlplatform.kernel.errors import Invalid


class NodeType(StrEnum):
    DATA_SOURCE = "data_source"
    FEATURE_VIEW = "feature_view"
    FEATURE_SERVICE = "feature_service"
    TRAINING_DATASET = "training_dataset"
    EXPERIMENT_RUN = "experiment_run"
    MODEL = "model"
    MODEL_VERSION = "model_version"
    DEPLOYMENT = "deployment"
    VALIDATION_REPORT = "validation_report"
    JOB = "job"


class EdgeKind(StrEnum):
    READ = "read"
    """The target reads the source (a view its data source, a dataset the views it was built from)."""
    PRODUCED = "produced"
    """A job produced the target (a materialization its view, a retrieval its training dataset)."""
    PART_OF = "part_of"
    """A feature view is part of a feature service."""
    TRAINED_ON = "trained_on"
    """An MLflow run trained on a training dataset (or a feature service)."""
    REGISTERED_AS = "registered_as"
    """The model an MLflow run logged was registered as a catalogue model version."""
    VERSION_OF = "version_of"
    """A model version is a version of a model."""
    VALIDATED_BY = "validated_by"
    """A validation report checked the source (a model version, a feature view)."""
    DEPLOYED_AS = "deployed_as"
    """A model version serves in a deployment (only the deployment's current version keeps the edge)."""


class Direction(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


MAX_DEPTH = 10
MAX_KEY_LENGTH = 500
NODE_PATTERN = whole(rf"(?:{'|'.join(t.value for t in NodeType)}):(?=[\s\S]*\S)[\s\S]{{1,{MAX_KEY_LENGTH}}}")
"""`<type>:<key>`: a node type, then a key of at most `MAX_KEY_LENGTH` characters that is not blank."""
DEFAULT_DEPTH = 5

TRAINING_DATASET_TAG = "mlplatform.training_dataset"
"""MLflow run tag (or param) naming the training dataset(s) a run trained on: dataset ids, comma-separated."""
FEATURE_SERVICE_TAG = "mlplatform.feature_service"
"""MLflow run tag (or param) naming the feature service a run trained with: `<name>` or `<project>/<name>`."""


def node_id(node_type: str, key: str) -> str:
    return f"{node_type}:{key}"


def named_key(project: str, *parts: object) -> str:
    """Key of a project-scoped definition: `<project>/<name>[/<more>]`."""
    return "/".join([project, *(str(p) for p in parts)])


def parse_node_ref(value: str) -> tuple[NodeType, str]:
    """`feature_view:fraud/card_stats` → (FEATURE_VIEW, "fraud/card_stats"); 422 for anything else."""
    type_name, found, key = value.partition(":")
    if not found or not key.strip():
        raise Invalid("node: expected <type>:<id>, e.g. feature_view:fraud/card_stats", parameter="node")
    try:
        node_type = NodeType(type_name.strip())
    except ValueError:
        allowed = ", ".join(t.value for t in NodeType)
        raise Invalid(f"node: unknown node type {type_name!r} (one of {allowed})", parameter="node") from None
    if len(key) > MAX_KEY_LENGTH:
        raise Invalid(f"node: the id is longer than {MAX_KEY_LENGTH} characters", parameter="node")
    return node_type, key.strip()


def parse_direction(value: str | None) -> Direction:
    if value is None:
        return Direction.BOTH
    try:
        return Direction(value)
    except ValueError:
        raise Invalid("direction: one of upstream, downstream, both", parameter="direction") from None


def check_depth(value: int | None) -> int:
    if value is None:
        return DEFAULT_DEPTH
    if not 1 <= value <= MAX_DEPTH:
        raise Invalid(f"depth: must be between 1 and {MAX_DEPTH}", parameter="depth")
    return value
