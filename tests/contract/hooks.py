"""Schemathesis hooks of the contract run (loaded by `st run` through SCHEMATHESIS_HOOKS, see run.py).

Schemathesis (4.32.5) applies the config's fixed values unevenly in its coverage phase, and these two hooks
even that out:

- Every path parameter of the document is fixed to a seeded object (schemathesis.toml), so a coverage case
  that breaks a path parameter on purpose is sent with the seeded value instead: the server rightly accepts
  it, and Schemathesis still reports "schema-violating request accepted" for the value it never sent. Such
  cases test nothing; `filter_case` drops them.
- Fixed body fields (`body.<field>` in an operation's `parameters`, e.g. the model a deployment names) are
  only applied to fuzzed bodies; every positive coverage case of those operations named a model or push
  source that does not exist (404: "missing test data"). `map_case` sets them on positive cases of every
  phase; negative cases keep what was generated, since overwriting a field could undo their violation.
  A body with one shape per `kind` takes them only when it is of the kind the config fixes (`body.kind`):
  the fields of one kind make a body of another invalid.
- A binary body the server reads as data (a Parquet batch to push) cannot be generated: random bytes are
  never a Parquet file of the push source's columns, so every positive case was refused. `map_case` sends
  the batch the seeding wrote (`RAW_BODIES`) as the positive cases' body; negative cases keep theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.generation.modes import GenerationMode

BODY = "body."
KIND = "kind"
"""The field telling the shapes of a body apart (a tagged union: data sources, connections)."""
RAW_BODIES = {"features_push_batch": ("CONTRACT_PUSH_BATCH", "application/octet-stream")}
"""Operation id -> (the variable naming the file whose bytes are its positive body, that body's media type:
one Schemathesis can send as bytes, which `application/vnd.apache.parquet` is not)."""


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.NEGATIVE:
        return True
    data = meta.phase.data
    return not (isinstance(data, CoveragePhaseData) and data.parameter_location == ParameterLocation.PATH)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    meta = case.meta
    operation = context.operation
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE or operation is None:
        return case
    raw = RAW_BODIES.get(operation.schema.get_operation_id(operation) or "")
    if raw is not None:
        variable, media_type = raw
        case.body = Path(os.environ[variable]).read_bytes()
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
