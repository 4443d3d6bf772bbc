"""Lineage: domain events → a queryable graph (`GET /api/v1/lineage`) and OpenLineage run events (Marquez).

`module` is resolved lazily so that `mlplatform lineage replay` (which imports `lineage.cli`) does not
load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlplatform.kernel.module import Module

    module: Module


def __getattr__(name: str) -> Any:
    if name == "module":
        from mlplatform.modules.lineage.wiring import module

        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
