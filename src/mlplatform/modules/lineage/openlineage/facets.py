"""Facets: the standard ones from openlineage-python, plus the platform's model facet.

OpenLineage has no ML facets yet, so a model version is a dataset with `datasetType: MODEL` and a
custom facet `mlplatform_model` whose JSON schema ships with this package
(`schemas/MlplatformModelDatasetFacet.json`; its `$id` is `MODEL_FACET_SCHEMA`).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import attr
from openlineage.client.generated.base import DatasetFacet

from mlplatform import __version__

PRODUCER = f"https://mlplatform.dev/producer/{__version__}"
"""`producer` of every event and `_producer` of every facet the platform builds."""

MODEL_FACET_SCHEMA = "https://mlplatform.dev/spec/facets/1-0-0/MlplatformModelDatasetFacet.json"
MODEL_FACET_KEY = "mlplatform_model"


@attr.define
class MlplatformModelDatasetFacet(DatasetFacet):
    """A catalogue model version's metadata (see the JSON schema next to this file)."""

    model: str
    version: int
    versionId: str | None = attr.field(default=None)
    project: str | None = attr.field(default=None)
    modelUri: str | None = attr.field(default=None)
    mlflowVersion: str | None = attr.field(default=None)
    framework: str | None = attr.field(default=None)
    stage: str | None = attr.field(default=None)
    sourceRunId: str | None = attr.field(default=None)
    featureService: str | None = attr.field(default=None)
    metrics: dict[str, float] | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{MODEL_FACET_SCHEMA}#/$defs/MlplatformModelDatasetFacet"


def model_facet_schema() -> dict[str, Any]:
    """The facet's JSON schema (for validators and for anyone who wants to serve it)."""
    text = (
        resources.files("mlplatform.modules.lineage.openlineage")
        .joinpath("schemas/MlplatformModelDatasetFacet.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
