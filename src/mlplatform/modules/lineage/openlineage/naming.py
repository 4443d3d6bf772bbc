"""Job and dataset names, following the OpenLineage naming conventions (spec/Naming.md).

Physical data is named where it lives: `s3://{bucket}` + `{key}`, `file` + `{absolute path}`,
`postgres://{host}:{port}` + `{database}.{schema}.{table}`. Things that only exist inside the
platform (feature views and services, model versions, deployments) live in the project's namespace
`mlplatform/{project}` with typed names (`feature_views/{view}`, `models/{model}/versions/{n}`); jobs
use the same namespace: they belong to the project that ran them. The prefix (`mlplatform`) is the
`lineage.namespace` setting, so two installations can share one Marquez.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

NAMESPACE_PREFIX = "mlplatform"
"""Default of the `lineage.namespace` setting: projects are `<prefix>/<project>`."""
BLOB_SCHEMES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs", "gcs": "gs"}


@dataclass(frozen=True)
class PostgresLocation:
    """Where the platform's PostgreSQL (the offline store of `postgres` data sources) is, for naming."""

    host: str
    port: int
    database: str


def project_namespace(project: str | None, prefix: str) -> str:
    return f"{prefix}/{project}" if project else prefix


def dataset_from_uri(uri: str) -> tuple[str, str] | None:
    """(namespace, name) of data at `uri`; None when the URI names nothing we can place."""
    uri = uri.strip()
    if not uri:
        return None
    if uri.startswith("/"):
        return "file", uri
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in BLOB_SCHEMES:
        if not parts.netloc:
            return None
        return f"{BLOB_SCHEMES[scheme]}://{parts.netloc}", parts.path.lstrip("/") or "/"
    if scheme == "file":
        return "file", unquote(parts.path) or "/"
    if scheme.startswith("postgres"):
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        return f"postgres://{host}:{port}", parts.path.lstrip("/")
    if scheme in {"http", "https"} and parts.hostname:
        authority = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{scheme}://{authority}", parts.path or "/"
    return None


def postgres_table(host: str, port: int, database: str, schema: str, table: str) -> tuple[str, str]:
    return f"postgres://{host}:{port}", f"{database}.{schema}.{table}"


def feature_view(project: str, name: str, *, prefix: str) -> tuple[str, str]:
    return project_namespace(project, prefix), f"feature_views/{name}"


def feature_service(project: str, name: str, *, prefix: str) -> tuple[str, str]:
    return project_namespace(project, prefix), f"feature_services/{name}"


def data_source(project: str, name: str, *, prefix: str) -> tuple[str, str]:
    """A data source with no physical location we can name (a push source)."""
    return project_namespace(project, prefix), f"data_sources/{name}"


def training_dataset(project: str, dataset_id: str, *, prefix: str) -> tuple[str, str]:
    """A training dataset whose storage URI is not known."""
    return project_namespace(project, prefix), f"training_datasets/{dataset_id}"


def model_version(project: str, model: str, version: int | str, *, prefix: str) -> tuple[str, str]:
    return project_namespace(project, prefix), f"models/{model}/versions/{version}"


def deployment(project: str, model: str, environment: str, *, prefix: str) -> tuple[str, str]:
    return project_namespace(project, prefix), f"deployments/{environment}/{model}"


def validation_report(project: str, validation_id: str, *, prefix: str) -> tuple[str, str]:
    return project_namespace(project, prefix), f"validation_reports/{validation_id}"


def training_job(experiment_name: str | None, experiment_id: str | None) -> str:
    """An MLflow experiment is the recurring job; each MLflow run is one of its runs."""
    if experiment_name:
        return f"train.{experiment_name}"
    return f"train.experiment-{experiment_id or 'unknown'}"


def materialization_job(views: list[str]) -> str:
    return "materialize." + ("+".join(sorted(views)) if views else "features")


def retrieval_job(feature_service: str | None) -> str:
    return f"historical_retrieval.{feature_service or 'features'}"


def model_validation_job(model: str, check: str) -> str:
    return f"validate.{model}.{check}"


def feature_validation_job(view: str) -> str:
    return f"validate.feature_views.{view}"


def deployment_job(model: str, environment: str) -> str:
    return f"deploy.{model}.{environment}"
