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
"""

from __future__ import annotations

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.generation.modes import GenerationMode

BODY = "body."


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
    if not isinstance(case.body, dict):
        return case
    fixed = operation.schema.config.operations.get_for_operation(operation).parameters
    for key, value in fixed.items():
        if key.startswith(BODY) and "." not in key[len(BODY) :]:
            case.body[key[len(BODY) :]] = value
    return case
