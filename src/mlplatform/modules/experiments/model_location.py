"""Where a project's MLflow model is stored, for a process that loads it without a tracking server.

The serving module's model workers load `models:/<name>/<version>` (or `runs:/`, `models:/m-...`,
`mlflow-artifacts:/`) from the platform's artifact store directly: they get the concrete location (an
`s3://` URI or a local folder) and the S3 variables to read it, never the database URI. The project check of
`ModelSources` comes first, and the resolved location must lie in the artifact store: a model of another
project, or outside the platform, is "not found in this project".
"""

from __future__ import annotations

import os

import msgspec

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.experiments.hosting.config import MlflowConfig
from mlplatform.modules.experiments.hosting.host import MlflowHost, Stores
from mlplatform.modules.experiments.sources import MLFLOW_ARTIFACTS, MODELS, RUNS, ModelSources

_AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


class ModelLocation(msgspec.Struct, frozen=True, kw_only=True):
    uri: str
    """`s3://bucket/key` of the model folder (with its `MLmodel`) or a local folder."""
    environment: dict[str, str]
    """Variables a loading process needs to read `uri` (S3 endpoint and credentials)."""


class ModelLocator:
    def __init__(self, mlflow: MlflowHost, config: MlflowConfig, sources: ModelSources) -> None:
        self.mlflow = mlflow
        self.config = config
        self.sources = sources

    async def locate(self, project: str, model_uri: str) -> ModelLocation:
        await self.sources.check(project, run_id=None, model_uri=model_uri)
        stores = await self.mlflow.stores()
        artifact_uri = await self.mlflow.call(self._artifact_uri, stores, model_uri)
        stored = self._stored(artifact_uri)
        if stored is None:
            raise Invalid(
                f"model_uri: {model_uri!r} is not stored in the platform's MLflow; a managed deployment loads "
                "models the project logged to the platform",
                field="model_uri",
            )
        return ModelLocation(uri=stored, environment=self._environment())

    def _artifact_uri(self, stores: Stores, model_uri: str) -> str:
        """The artifact location of a model URI, from MLflow's stores (blocking: a worker thread)."""
        from mlflow.exceptions import MlflowException

        try:
            if model_uri.startswith(MODELS):
                return self._registry_uri(stores, model_uri[len(MODELS) :].lstrip("/"))
            if model_uri.startswith(RUNS):
                run_id, _, path = model_uri[len(RUNS) :].lstrip("/").partition("/")
                root = stores.tracking.get_run(run_id).info.artifact_uri
                return f"{root.rstrip('/')}/{path}" if path else str(root)
        except MlflowException as exc:
            raise Invalid(f"model_uri: {model_uri!r} cannot be resolved: {exc.message}", field="model_uri") from exc
        return model_uri

    @staticmethod
    def _registry_uri(stores: Stores, target: str) -> str:
        head, _, rest = target.partition("/")
        if head.startswith("m-"):
            location = stores.tracking.get_logged_model(head).artifact_location
            return f"{location.rstrip('/')}/{rest}" if rest else str(location)
        if "@" in head:
            name, _, alias = head.partition("@")
            version = stores.registry.get_model_version_by_alias(name, alias).version
        else:
            name, version = head, rest.split("/", 1)[0]
        source = str(stores.registry.get_model_version_download_uri(name, version))
        if source.startswith(MODELS):
            return ModelLocator._registry_uri(stores, source[len(MODELS) :].lstrip("/"))
        return source

    def _stored(self, artifact_uri: str) -> str | None:
        destination = self.config.artifact_destination.rstrip("/")
        if artifact_uri.startswith(MLFLOW_ARTIFACTS):
            path = artifact_uri[len(MLFLOW_ARTIFACTS) :]
            if path.startswith("//"):
                path = path[2:].partition("/")[2]
            return f"{destination}/{path.lstrip('/')}"
        if self.sources.inside(artifact_uri, self.sources.artifact_destination) is not None:
            return artifact_uri.removeprefix("file://")
        return None

    def _environment(self) -> dict[str, str]:
        environment = {name: os.environ[name] for name in _AWS_VARIABLES if name in os.environ}
        if self.config.s3_endpoint_url:
            environment["MLFLOW_S3_ENDPOINT_URL"] = self.config.s3_endpoint_url
        if self.config.s3_region:
            environment["AWS_DEFAULT_REGION"] = self.config.s3_region
        return environment
