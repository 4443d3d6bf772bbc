"""Schemathesis hooks of the contract run (loaded by `st run` through SCHEMATHESIS_HOOKS, see run.py).

Every path parameter of the document is fixed to a seeded object (schemathesis.toml), so a coverage case
that breaks a path parameter on purpose is sent with the seeded value instead: the server rightly accepts
it, and Schemathesis (4.32.5) still reports "schema-violating request accepted" for the value it never
sent. Such cases test nothing; they are dropped here.
"""

from __future__ import annotations

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData
from schemathesis.generation.modes import GenerationMode


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.NEGATIVE:
        return True
    data = meta.phase.data
    return not (isinstance(data, CoveragePhaseData) and data.parameter_location == ParameterLocation.PATH)
