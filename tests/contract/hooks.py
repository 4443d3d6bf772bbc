"""Schemathesis hooks of the contract run (loaded by `st run` through SCHEMATHESIS_HOOKS, see run.py).

Schemathesis (4.32.5) applies the config's fixed values unevenly in its coverage phase, and these two hooks
even that out:

- Every path parameter of the document is fixed to a seeded object (schemathesis.toml), so a coverage case
  that breaks a path parameter on purpose is sent with the seeded value instead: the server rightly accepts
  it, and Schemathesis still reports "schema-violating request accepted" for the value it never sent. The
  same holds for any other parameter the config fixes (the environment a v2 inference names, in the query),
  whose coverage cases (even a "valid" near-boundary length, which Schemathesis then judges invalid by the
  value it generated) are all sent with the fixed value. Such cases test nothing; `filter_case` drops them.
- Fixed body fields (`body.<field>` in an operation's `parameters`, e.g. the model a deployment names) are
  only applied to fuzzed bodies; every positive coverage case of those operations named a model or push
  source that does not exist (404: "missing test data"). `map_case` sets them on positive cases of every
  phase; negative cases keep what was generated, since overwriting a field could undo their violation.
  A body with one shape per `kind` takes them only when it is of the kind the config fixes (`body.kind`):
  the fields of one kind make a body of another invalid.
- A binary body the server reads as data (a Parquet batch to push, a v2 inference request: JSON, or JSON
  and tensor bytes with the binary data extension) cannot be generated: random bytes are never a Parquet
  file of the push source's columns, nor a request for the served model's inputs, so every positive case
  was refused. `map_case` sends the body the seeding wrote (`RAW_BODIES`) as the positive cases' body;
  negative cases keep theirs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, negated_parameters
from schemathesis.generation.modes import GenerationMode

BODY = "body."
FIXABLE = (ParameterLocation.QUERY, ParameterLocation.HEADER, ParameterLocation.COOKIE)
"""Where a parameter the config fixes is replaced in every case (path parameters: see `filter_case`)."""
KIND = "kind"
"""The field telling the shapes of a body apart (a tagged union: data sources, connections)."""
RAW_BODIES = {
    "features_push_batch": ("CONTRACT_PUSH_BATCH", "application/octet-stream"),
    "serving_v2_model_infer": ("CONTRACT_V2_INFER_BODY", "application/json"),
    "serving_v2_version_infer": ("CONTRACT_V2_INFER_BODY", "application/json"),
}
"""Operation id -> (the variable naming the file whose bytes are its positive body, that body's media type:
one Schemathesis can send as bytes, which `application/vnd.apache.parquet` is not; a JSON file is sent as
the JSON it holds)."""


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None:
        return True
    data = meta.phase.data
    fixed = fixed_parameters(context)
    if (
        isinstance(data, CoveragePhaseData)
        and data.parameter_location in FIXABLE
        and f"{data.parameter_location.value}.{data.parameter}" in fixed
    ):
        return False  # a boundary case of a value that is replaced by the fixed one (judged by the value it had)
    if meta.generation.mode is not GenerationMode.NEGATIVE:
        return True
    if isinstance(data, CoveragePhaseData) and data.parameter_location == ParameterLocation.PATH:
        return False
    return not any(f"{location.value}.{name}" in fixed for name, location in negated_parameters(meta))


def fixed_parameters(context: schemathesis.HookContext) -> set[str]:
    """`<location>.<name>` of every parameter the config fixes for the context's operation."""
    operation = context.operation
    if operation is None:
        return set()
    config = operation.schema.config
    return set(config.parameters) | set(config.operations.get_for_operation(operation).parameters)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    meta = case.meta
    operation = context.operation
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE or operation is None:
        return case
    raw = RAW_BODIES.get(operation.schema.get_operation_id(operation) or "")
    if raw is not None:
        variable, media_type = raw
        content = Path(os.environ[variable]).read_bytes()
        case.body = json.loads(content) if media_type == "application/json" else content
        case.media_type = media_type
        return case
    if not isinstance(case.body, dict):
        return case
    parameters = operation.schema.config.operations.get_for_operation(operation).parameters
    fixed = {
        key[len(BODY) :]: value
        for key, value in parameters.items()
        if key.startswith(BODY) and "." not in key[len(BODY) :]
    }
    if KIND in fixed and case.body.get(KIND) != fixed[KIND]:
        return case  # another kind: the fixed fields are not its own
    case.body.update(fixed)
    return case
