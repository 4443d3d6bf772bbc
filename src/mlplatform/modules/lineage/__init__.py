"""Lineage: domain events → a queryable graph (`GET /api/v1/lineage`) and OpenLineage run events (Marquez)."""

from __future__ import annotations

from mlplatform.kernel.module import Module
from mlplatform.modules.lineage.controllers import LineageController
from mlplatform.modules.lineage.purge import purge_project
from mlplatform.modules.lineage.runtime import build_runtime
from mlplatform.modules.lineage.subscriber import lineage_subscriber

module = Module(
    name="lineage",
    runtime=build_runtime,
    route_handlers=[LineageController],
    subscribers=lambda platform: [lineage_subscriber(platform)],
    purge_project=purge_project,
    openapi_tags=[
        (
            "lineage",
            "Lineage from raw data to deployments: provenance and impact queries, OpenLineage events (Marquez).",
        )
    ],
)
