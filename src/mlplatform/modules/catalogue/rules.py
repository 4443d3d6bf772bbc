"""The catalogue's pure rules: input limits, the stage state machine and approval policies.

No I/O here: the services call these before touching the database, and `api.py` callers (the
experiments module) get exactly the same checks as HTTP clients. Every breach raises `Invalid`
(422, problem+json) naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, get_args

from mlplatform.kernel.constraints import whole
from mlplatform.kernel.errors import Conflict, Invalid

Stage = Literal["registered", "validated", "staging", "production", "archived", "rejected"]
STAGES: Final[tuple[str, ...]] = get_args(Stage)

ALLOWED_MOVES: Final[dict[str, tuple[str, ...]]] = {
    "registered": ("validated", "rejected", "archived"),
    "validated": ("staging", "rejected", "archived"),
    "staging": ("production", "validated", "rejected", "archived"),
    "production": ("staging", "archived"),
    "archived": ("staging",),
    "rejected": (),
}
"""Stage → stages a version may move to. `rejected` is final; `archived` may come back to staging."""

GATED_STAGES: Final[frozenset[str]] = frozenset({"validated", "production"})
"""Entering these needs every required validation of the model passed (latest record per name)."""

RETIRING_STAGES: Final[frozenset[str]] = frozenset({"archived", "rejected"})
"""Entering these retires the version's deployments."""

DeploymentStatus = Literal["pending", "active", "failed", "retired"]
LIVE_DEPLOYMENT_STATUSES: Final[tuple[str, ...]] = ("pending", "active")
MAX_SERVING_DEFAULTS: Final = 1000
MAX_SERVING_PROCESSES: Final = 8
MAX_SERVING_ROWS: Final = 10_000
"""Deployments in these states hold their traffic share."""

Operator = Literal["gt", "ge", "lt", "le"]

# Limits (documented in docs/catalogue.md). Patterns are built with `whole` so Python (the server) and
# ECMA-262 (the OpenAPI document's readers) match exactly the same text: no final newline slips past `$`.
NAME_PATTERN: Final = whole(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
TAG_KEY_PATTERN: Final = whole(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,63}")
CHECK_NAME_PATTERN: Final = whole(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
ENVIRONMENT_PATTERN: Final = whole(r"[a-z0-9][a-z0-9_\-]{0,63}")
METRIC_NAME_PATTERN: Final = whole(r"[A-Za-z0-9_][A-Za-z0-9_.\-/:]{0,127}")
MAX_TAGS: Final = 50
MAX_TAG_VALUE: Final = 256
MAX_DESCRIPTION: Final = 5000
MAX_SNAPSHOT_ENTRIES: Final = 1000
MAX_SNAPSHOT_KEY: Final = 250
MAX_PARAM_VALUE: Final = 6000
MAX_SIGNATURE_BYTES: Final = 64 * 1024
MAX_REQUIRED_VALIDATIONS: Final = 20
MAX_APPROVALS: Final = 10
MAX_URI: Final = 1024
MAX_RULES_PER_DEPLOYMENT: Final = 50
MAX_RECORDS_PER_CALL: Final = 1000
MAX_VERSION: Final = 2**31 - 1
"""Version numbers are stored as 32-bit integers."""
URI_SCHEMES: Final[frozenset[str]] = frozenset(
    {"runs", "models", "mlflow-artifacts", "s3", "gs", "wasbs", "abfss", "hdfs", "file", "http", "https", "dbfs"}
)
URI_PATTERN: Final = whole(f"(?:{'|'.join(sorted(URI_SCHEMES))}):.+")
"""An artifact URI with a known scheme (a line of text: `.` does not match a newline)."""
TAG_FILTER_PATTERN: Final = whole(rf"[A-Za-z0-9_][A-Za-z0-9_.\-/]{{0,63}}:.{{0,{MAX_TAG_VALUE}}}")
"""A `tag=key:value` search filter: a tag key, then the value (everything after the first `:`, one line)."""
TARGET_STAGE_PATTERN: Final = whole("|".join(stage for stage in STAGES if stage != "registered"))
"""A stage a version can move to (every stage but `registered`): the keys of an approval policy."""

_name = re.compile(NAME_PATTERN)
_tag_key = re.compile(TAG_KEY_PATTERN)
_check_name = re.compile(CHECK_NAME_PATTERN)
_tag_filter = re.compile(TAG_FILTER_PATTERN)
_uri = re.compile(URI_PATTERN)


def check_name(value: str, field: str = "name") -> str:
    if not isinstance(value, str) or not _name.match(value):
        raise Invalid(
            f"{field}: 1-128 characters, letters, digits, '_', '.', '-', starting with a letter or digit",
            field=field,
        )
    return value


def check_text(value: str, field: str, limit: int = MAX_DESCRIPTION) -> str:
    if len(value) > limit:
        raise Invalid(f"{field}: at most {limit} characters (got {len(value)})", field=field)
    return value


def check_tags(tags: Mapping[str, Any] | None, field: str = "tags") -> dict[str, str]:
    """Tags are string → string, at most 50, keys 1-64 safe characters, values at most 256 characters."""
    if tags is None:
        return {}
    if len(tags) > MAX_TAGS:
        raise Invalid(f"{field}: at most {MAX_TAGS} tags (got {len(tags)})", field=field)
    for key, value in tags.items():
        if not isinstance(key, str) or not _tag_key.match(key):
            raise Invalid(
                f"{field}: key {str(key)[:80]!r} must be 1-64 characters of letters, digits, '_', '.', '-', '/'",
                field=field,
            )
        if not isinstance(value, str):
            raise Invalid(f"{field}: value of {key!r} must be a string", field=field)
        if len(value) > MAX_TAG_VALUE:
            raise Invalid(f"{field}: value of {key!r} is longer than {MAX_TAG_VALUE} characters", field=field)
    return dict(tags)


def parse_tag_filters(filters: Iterable[str]) -> dict[str, str]:
    """`key:value` query filters (all must match) → a dict; the key is everything before the first ':'."""
    parsed: dict[str, str] = {}
    for item in filters:
        if not _tag_filter.match(item):
            raise Invalid(
                f"tag: {item[:80]!r} is not key:value (a tag key, ':', a value of at most {MAX_TAG_VALUE} characters)",
                parameter="tag",
            )
        key, _, value = item.partition(":")
        if key in parsed and parsed[key] != value:
            raise Invalid(f"tag: {key!r} given twice with different values", parameter="tag")
        parsed[key] = value
    if len(parsed) > MAX_TAGS:
        raise Invalid(f"tag: at most {MAX_TAGS} tag filters", parameter="tag")
    return check_tags(parsed, field="tag")


def check_metrics(metrics: Mapping[str, Any] | None, field: str = "metrics") -> dict[str, float]:
    if metrics is None:
        return {}
    _check_snapshot_size(metrics, field)
    result: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Invalid(f"{field}: value of {str(key)[:80]!r} must be a finite number", field=field)
        result[key] = float(value)
    return result


def check_params(params: Mapping[str, Any] | None, field: str = "params") -> dict[str, str]:
    if params is None:
        return {}
    _check_snapshot_size(params, field)
    result: dict[str, str] = {}
    for key, value in params.items():
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_PARAM_VALUE:
            raise Invalid(f"{field}: value of {str(key)[:80]!r} is longer than {MAX_PARAM_VALUE}", field=field)
        result[key] = text
    return result


def _check_snapshot_size(values: Mapping[str, Any], field: str) -> None:
    if len(values) > MAX_SNAPSHOT_ENTRIES:
        raise Invalid(f"{field}: at most {MAX_SNAPSHOT_ENTRIES} entries (got {len(values)})", field=field)
    for key in values:
        if not isinstance(key, str) or not key or len(key) > MAX_SNAPSHOT_KEY:
            raise Invalid(f"{field}: keys must be 1-{MAX_SNAPSHOT_KEY} characters", field=field)


def check_signature(signature: Mapping[str, Any] | None, encoded_size: int) -> dict[str, Any] | None:
    if signature is None:
        return None
    if encoded_size > MAX_SIGNATURE_BYTES:
        raise Invalid(f"signature: at most {MAX_SIGNATURE_BYTES} bytes of JSON", field="signature")
    return dict(signature)


def check_uri(uri: str, field: str = "model_uri") -> str:
    """An artifact URI: `runs:/`, `models:/`, `mlflow-artifacts:/`, `s3://`, ... (a known scheme)."""
    if not isinstance(uri, str) or len(uri) > MAX_URI or not _uri.match(uri):
        raise Invalid(
            f"{field}: an artifact URI of at most {MAX_URI} characters with one of the schemes "
            f"{', '.join(sorted(URI_SCHEMES))}",
            field=field,
        )
    return uri


def check_required_validations(names: Iterable[str] | None) -> list[str]:
    if names is None:
        return []
    result = list(dict.fromkeys(names))
    if len(result) > MAX_REQUIRED_VALIDATIONS:
        raise Invalid(f"required_validations: at most {MAX_REQUIRED_VALIDATIONS}", field="required_validations")
    for name in result:
        if not isinstance(name, str) or not _check_name.match(name):
            raise Invalid(
                f"required_validations: {str(name)[:80]!r} is not a valid check name", field="required_validations"
            )
    return result


def check_validation_name(name: str) -> str:
    if not isinstance(name, str) or not _check_name.match(name):
        raise Invalid("name: 1-100 characters, letters, digits, '_', '.', '-'", field="name")
    return name


def check_approval_policy(policy: Mapping[str, Any] | None) -> dict[str, int]:
    """Stage → approvals needed to enter it (0 removes the requirement)."""
    if policy is None:
        return {}
    result: dict[str, int] = {}
    for stage, count in policy.items():
        if stage not in STAGES or stage == "registered":
            raise Invalid(
                f"approval_policy: {str(stage)[:40]!r} is not a stage a version can move to", field="approval_policy"
            )
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_APPROVALS:
            raise Invalid(f"approval_policy: {stage} needs 0..{MAX_APPROVALS} approvals", field="approval_policy")
        if count:
            result[stage] = count
    return result


def check_stage(value: str, parameter: str = "stage") -> str:
    if value not in STAGES:
        raise Invalid(f"{parameter}: unknown stage {value[:40]!r}; one of {', '.join(STAGES)}", parameter=parameter)
    return value


def ensure_move_allowed(current: str, target: str) -> None:
    """Raise 409 listing the allowed moves when `current → target` is not in the state machine."""
    check_stage(target, "to_stage")
    allowed = ALLOWED_MOVES[current]
    if target not in allowed:
        shown = ", ".join(allowed) if allowed else "none (final stage)"
        raise Conflict(
            f"a {current} version cannot move to {target}; allowed: {shown}",
            current_stage=current,
            allowed_moves=list(allowed),
        )


def missing_validations(required: Iterable[str], latest: Mapping[str, str]) -> list[str]:
    """Required checks whose latest record is absent or not `passed`."""
    return [name for name in required if latest.get(name) != "passed"]


def breaches(operator: str, value: float, threshold: float) -> bool:
    if operator == "gt":
        return value > threshold
    if operator == "ge":
        return value >= threshold
    if operator == "lt":
        return value < threshold
    if operator == "le":
        return value <= threshold
    raise ValueError(f"unknown operator {operator!r}")
