"""Graph nodes as OpenLineage datasets, with the facets their recorded attributes allow.

The builders run after the graph has been updated for the same domain event, in the same
transaction, so a run can name its inputs by what the graph knows about them (a training dataset's
storage URI, a feature view's schema) even when the event itself only carries an id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.generated.base import DatasetFacet, InputDatasetFacet
from openlineage.client.generated.dataset_type_dataset import DatasetTypeDatasetFacet
from openlineage.client.generated.datasource_dataset import DatasourceDatasetFacet
from openlineage.client.generated.documentation_dataset import DocumentationDatasetFacet
from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields
from openlineage.client.generated.symlinks_dataset import Identifier, SymlinksDatasetFacet
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.modules.lineage.models import LineageNode
from mlplatform.modules.lineage.openlineage import naming
from mlplatform.modules.lineage.openlineage.facets import MODEL_FACET_KEY, PRODUCER, MlplatformModelDatasetFacet
from mlplatform.modules.lineage.openlineage.naming import PostgresLocation
from mlplatform.modules.lineage.repositories.events import kernel_job
from mlplatform.modules.lineage.repositories.graph import find_node, neighbours
from mlplatform.modules.lineage.vocabulary import EdgeKind, NodeType

DatasetId = tuple[str, str]


@dataclass(frozen=True)
class JobRecord:
    """What the kernel's job table says about the job behind an event (times, outcome)."""

    started_at: datetime | None
    finished_at: datetime | None
    status: str
    error: str | None


class BuildContext:
    """What a builder may ask the graph (and the job table) while building events for one domain event."""

    def __init__(
        self, session: AsyncSession, *, postgres: PostgresLocation | None = None, prefix: str = naming.NAMESPACE_PREFIX
    ) -> None:
        self.session = session
        self.postgres = postgres
        self.prefix = prefix
        """Namespace prefix of the platform's projects (`lineage.namespace`)."""

    def namespace(self, project: str | None) -> str:
        return naming.project_namespace(project, self.prefix)

    async def job(self, job_id: str | None) -> JobRecord | None:
        if not job_id:
            return None
        try:
            key = uuid.UUID(job_id)
        except ValueError:
            return None
        row = await kernel_job(self.session, key)
        if row is None:
            return None
        return JobRecord(started_at=row.started_at, finished_at=row.finished_at, status=row.status, error=row.error)

    async def node(self, node_type: NodeType, key: str) -> LineageNode | None:
        return await find_node(self.session, node_type, key)

    async def upstream(self, node: LineageNode, kind: EdgeKind, node_type: NodeType | None = None) -> list[LineageNode]:
        return await neighbours(self.session, node.id, kind=kind, upstream=True, node_type=node_type)

    async def downstream(
        self, node: LineageNode, kind: EdgeKind, node_type: NodeType | None = None
    ) -> list[LineageNode]:
        return await neighbours(self.session, node.id, kind=kind, upstream=False, node_type=node_type)


def _text(attributes: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _numbers(values: Any) -> dict[str, float] | None:
    if not isinstance(values, Mapping):
        return None
    found = {str(k): float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return found or None


def _tail(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def schema_facet(columns: Any) -> SchemaDatasetFacet | None:
    """Fields from `[{"name", "dtype"|"type"}]`, `{"name": "type"}` or `["name"]`."""
    fields: list[SchemaDatasetFacetFields] = []
    if isinstance(columns, Mapping):
        columns = [{"name": k, "type": v} for k, v in columns.items()]
    if not isinstance(columns, list):
        return None
    for position, column in enumerate(columns, start=1):
        if isinstance(column, str):
            fields.append(SchemaDatasetFacetFields(name=column, ordinal_position=position))
        elif isinstance(column, Mapping) and isinstance(column.get("name"), str):
            kind = column.get("dtype") or column.get("type") or column.get("value_type")
            description = column.get("description")
            fields.append(
                SchemaDatasetFacetFields(
                    name=column["name"],
                    type=str(kind) if kind is not None else None,
                    description=description if isinstance(description, str) and description else None,
                    ordinal_position=position,
                )
            )
    return SchemaDatasetFacet(fields=fields, producer=PRODUCER) if fields else None


def _dataset_type(kind: str, sub_type: str | None = None) -> DatasetTypeDatasetFacet:
    return DatasetTypeDatasetFacet(datasetType=kind, subType=sub_type, producer=PRODUCER)


def _datasource(namespace: str) -> DatasourceDatasetFacet:
    return DatasourceDatasetFacet(name=namespace, uri=namespace, producer=PRODUCER)


def _symlink(namespace: str, name: str, kind: str) -> SymlinksDatasetFacet:
    return SymlinksDatasetFacet(identifiers=[Identifier(namespace=namespace, name=name, type=kind)], producer=PRODUCER)


class Dataset:
    """A dataset under construction: identity plus facets; turned into an input or an output."""

    def __init__(self, namespace: str, name: str, facets: dict[str, DatasetFacet] | None = None) -> None:
        self.namespace = namespace
        self.name = name
        self.facets: dict[str, DatasetFacet] = facets or {}

    @property
    def identity(self) -> DatasetId:
        return self.namespace, self.name

    def as_input(self, input_facets: dict[str, InputDatasetFacet] | None = None) -> InputDataset:
        return InputDataset(
            namespace=self.namespace, name=self.name, facets=dict(self.facets), inputFacets=input_facets or {}
        )

    def as_output(self) -> OutputDataset:
        return OutputDataset(namespace=self.namespace, name=self.name, facets=dict(self.facets))


def feature_view_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    project = node.project or ""
    namespace, name = naming.feature_view(project, _text(attributes, "name") or _tail(node.key), prefix=prefix)
    facets: dict[str, DatasetFacet] = {"datasetType": _dataset_type("VIEW", "FEATURE_VIEW")}
    schema = schema_facet(attributes.get("schema") or attributes.get("features"))
    if schema is not None:
        facets["schema"] = schema
    description = _text(attributes, "description")
    if description:
        facets["documentation"] = DocumentationDatasetFacet(description=description, producer=PRODUCER)
    return Dataset(namespace, name, facets)


def feature_service_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    namespace, name = naming.feature_service(
        node.project or "", _text(attributes, "name") or _tail(node.key), prefix=prefix
    )
    facets: dict[str, DatasetFacet] = {"datasetType": _dataset_type("VIEW", "FEATURE_SERVICE")}
    schema = schema_facet(attributes.get("features"))
    if schema is not None:
        facets["schema"] = schema
    return Dataset(namespace, name, facets)


def data_source_dataset(node: LineageNode, postgres: PostgresLocation | None, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    physical = None
    uri = _text(attributes, "uri", "path", "url")
    if uri:
        physical = naming.dataset_from_uri(uri)
    table = _text(attributes, "table")
    if physical is None and table and postgres is not None:
        table_schema, _, table_name = table.rpartition(".")
        physical = naming.postgres_table(
            postgres.host, postgres.port, postgres.database, table_schema or "public", table_name
        )
    facets: dict[str, DatasetFacet] = {}
    if physical is None:
        namespace, name = naming.data_source(
            node.project or "", _text(attributes, "name") or _tail(node.key), prefix=prefix
        )
        facets["datasetType"] = _dataset_type("STREAM" if attributes.get("kind") == "push" else "TABLE")
        facets["documentation"] = DocumentationDatasetFacet(
            description=f"{attributes.get('kind') or 'data'} source {node.name} of feature project {node.project}",
            producer=PRODUCER,
        )
    else:
        namespace, name = physical
        facets["datasetType"] = _dataset_type("TABLE" if namespace.startswith("postgres://") else "FILE")
        facets["dataSource"] = _datasource(namespace)
    return Dataset(namespace, name, facets)


def node_uri(node: LineageNode) -> str | None:
    """Where a training dataset node's data lives: its recorded URI, its alias, or its key when a run
    named data by URI that is no platform dataset (yet)."""
    uri = _text(node.attributes or {}, "uri", "storage_uri", "path") or node.alias
    if uri is None and naming.dataset_from_uri(node.key) is not None:
        uri = node.key
    return uri


def training_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    uri = node_uri(node)
    physical = naming.dataset_from_uri(uri) if uri else None
    facets: dict[str, DatasetFacet] = {"datasetType": _dataset_type("FILE", "TRAINING_DATASET")}
    if physical is None:
        namespace, name = naming.training_dataset(node.project or "", node.key, prefix=prefix)
    else:
        namespace, name = physical
        facets["dataSource"] = _datasource(namespace)
        if uri != node.key:
            logical_namespace, logical_name = naming.training_dataset(node.project or "", node.key, prefix=prefix)
            facets["symlinks"] = _symlink(logical_namespace, logical_name, "TRAINING_DATASET")
    schema = schema_facet(attributes.get("schema") or attributes.get("columns"))
    if schema is not None:
        facets["schema"] = schema
    return Dataset(namespace, name, facets)


def model_version_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    project = node.project or ""
    parts = node.key.split("/")
    model = _text(attributes, "model") or (parts[1] if len(parts) >= 3 else node.key)
    version_value = attributes.get("version")
    version = version_value if isinstance(version_value, int) else int(parts[-1]) if parts[-1].isdigit() else 0
    namespace, name = naming.model_version(project, model, version, prefix=prefix)
    metrics = attributes.get("metrics")
    facets: dict[str, DatasetFacet] = {
        "datasetType": _dataset_type("MODEL"),
        MODEL_FACET_KEY: MlplatformModelDatasetFacet(
            model=model,
            version=max(version, 1),
            versionId=_text(attributes, "version_id") or node.alias,
            project=project or None,
            modelUri=_text(attributes, "model_uri"),
            mlflowVersion=_text(attributes, "mlflow_version"),
            framework=_text(attributes, "framework"),
            stage=_text(attributes, "stage"),
            sourceRunId=_text(attributes, "source_run_id"),
            featureService=_text(attributes, "feature_service"),
            metrics=_numbers(metrics),
            producer=PRODUCER,
        ),
    }
    return Dataset(namespace, name, facets)


def deployment_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    model = _text(attributes, "model") or node.name
    environment = _text(attributes, "environment") or "default"
    namespace, name = naming.deployment(node.project or "", model, environment, prefix=prefix)
    return Dataset(namespace, name, {"datasetType": _dataset_type("MODEL", "DEPLOYMENT")})


def validation_report_dataset(node: LineageNode, *, prefix: str) -> Dataset:
    attributes = node.attributes or {}
    uri = _text(attributes, "report_uri")
    physical = naming.dataset_from_uri(uri) if uri else None
    namespace, name = physical or naming.validation_report(node.project or "", node.key, prefix=prefix)
    facets: dict[str, DatasetFacet] = {"datasetType": _dataset_type("FILE", "VALIDATION_REPORT")}
    if physical is not None:
        facets["dataSource"] = _datasource(namespace)
    return Dataset(namespace, name, facets)


DATASET_BUILDERS = {
    NodeType.FEATURE_VIEW.value: feature_view_dataset,
    NodeType.FEATURE_SERVICE.value: feature_service_dataset,
    NodeType.TRAINING_DATASET.value: training_dataset,
    NodeType.MODEL_VERSION.value: model_version_dataset,
    NodeType.DEPLOYMENT.value: deployment_dataset,
    NodeType.VALIDATION_REPORT.value: validation_report_dataset,
}


def dataset_of(node: LineageNode, postgres: PostgresLocation | None, *, prefix: str) -> Dataset | None:
    """The dataset a node is in OpenLineage terms (runs, jobs and models are not datasets)."""
    if node.type == NodeType.DATA_SOURCE.value:
        return data_source_dataset(node, postgres, prefix=prefix)
    builder = DATASET_BUILDERS.get(node.type)
    return builder(node, prefix=prefix) if builder is not None else None
