"""Imports every table definition so `Base.metadata` is complete (migrations, test set-up).

Kept out of `mlplatform.kernel` because it names the modules; only migrations and tooling use it.
"""

from __future__ import annotations

import importlib

TABLE_MODULES = (
    "mlplatform.kernel.events.model",
    "mlplatform.kernel.jobs.model",
    "mlplatform.modules.gateway.models",
    "mlplatform.modules.catalogue.models",
    "mlplatform.modules.experiments.models",
    "mlplatform.modules.lineage.models",
    "mlplatform.modules.features.models",
)
"""Every module's `models.py` is added here as modules land."""


def import_all_tables() -> None:
    for name in TABLE_MODULES:
        importlib.import_module(name)
