"""Whether a model source — a run id, an artifact URI — belongs to a project.

The catalogue registers versions whose `source_run_id` and `model_uri` name MLflow objects; whoever later
deploys or loads such a version reads what they point at. So a version of project P may only point at P's
runs, registered models, logged models and MLflow artifacts, and not into the platform's object store or data
folder outside P's MLflow artifacts. Anything else is answered as "not found in this project", the same for
an object that does not exist and one of another project (an outsider learns nothing). URIs outside the
platform (`s3://` of other buckets, `https://` ...) are the caller's business and pass.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mlplatform.kernel.errors import Invalid
from mlplatform.modules.experiments.authz.projects import ProjectResolver

RUNS = "runs:"
MODELS = "models:"
MLFLOW_ARTIFACTS = "mlflow-artifacts:"


class ModelSources:
    def __init__(
        self, resolver: ProjectResolver, *, artifact_destination: str, store_root: str, data_dir: Path
    ) -> None:
        self.resolver = resolver
        self.artifact_destination = _root(artifact_destination)
        self.store_root = _root(store_root)
        self.data_dir = str(data_dir.resolve())

    async def check(self, project: str, *, run_id: str | None, model_uri: str) -> None:
        """Raise `Invalid` (422) naming the field when the run or the URI is not the project's."""
        if run_id is not None and await self.resolver.run(run_id) != project:
            raise Invalid(f"source_run_id: run {run_id!r} not found in project {project!r}", field="source_run_id")
        if await self._uri_project(model_uri, project) is False:
            raise Invalid(
                f"model_uri: {model_uri!r} is not a model of project {project!r} (runs:/, models:/ and "
                "mlflow-artifacts:/ URIs must name the project's own MLflow objects)",
                field="model_uri",
            )

    async def _uri_project(self, uri: str, project: str) -> bool | None:
        """True: the project's; False: not the project's; None: not a platform location at all."""
        if uri.startswith(RUNS):
            run_id = uri[len(RUNS) :].lstrip("/").split("/", 1)[0]
            return bool(run_id) and await self.resolver.run(run_id) == project
        if uri.startswith(MODELS):
            target = uri[len(MODELS) :].lstrip("/").split("/", 1)[0]
            if target.startswith("m-"):
                return await self.resolver.logged_model(target) == project
            name = target.split("@", 1)[0]
            return bool(name) and await self.resolver.registered_model(name) == project
        if uri.startswith(MLFLOW_ARTIFACTS):
            path = uri[len(MLFLOW_ARTIFACTS) :]
            if path.startswith("//"):  # mlflow-artifacts://host/<experiment>/...
                path = path[2:].partition("/")[2]
            return await self._experiment_path(path, project)
        inside = self.inside(uri, self.artifact_destination)
        if inside is not None:
            return await self._experiment_path(inside, project)
        if self.inside(uri, self.store_root) is not None or self._local_inside(uri, self.data_dir):
            return False  # the platform's own files: other modules', other projects', its database
        return None

    async def _experiment_path(self, path: str, project: str) -> bool:
        parts = unquote(path).strip("/").split("/")
        if not parts[0] or ".." in parts:
            return False
        return await self.resolver.experiment(parts[0]) == project

    @staticmethod
    def inside(uri: str, root: str) -> str | None:
        """The part of `uri` below `root` (an `s3://` URI or a local folder), or None when it is not below."""
        if root.startswith("s3://"):
            if not uri.startswith("s3://"):
                return None
            bucket_and_key = posixpath.normpath(uri[len("s3://") :])
            base = root[len("s3://") :]
            if bucket_and_key == base or bucket_and_key.startswith(base + "/"):
                return bucket_and_key[len(base) :].lstrip("/")
            return None
        local = _local_path(uri)
        if local is None:
            return None
        if local == root or local.startswith(root + "/"):
            return local[len(root) :].lstrip("/")
        return None

    @staticmethod
    def _local_inside(uri: str, folder: str) -> bool:
        local = _local_path(uri)
        return local is not None and (local == folder or local.startswith(folder + "/"))


def _root(location: str) -> str:
    """An object store root as `s3://bucket/prefix` or an absolute local folder, without a trailing `/`."""
    if location.startswith("s3://"):
        return location.rstrip("/")
    local = _local_path(location)
    return (local or str(Path(location).resolve())).rstrip("/") or "/"


def _local_path(uri: str) -> str | None:
    """A local path for `file:` URIs and bare absolute paths, normalized (`..` resolved); else None."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = unquote(parts.path)
    elif not parts.scheme and uri.startswith("/"):
        path = uri
    else:
        return None
    return posixpath.normpath(path) if path else None
