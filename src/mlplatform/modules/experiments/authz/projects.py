"""Which platform project an MLflow object belongs to.

- An experiment belongs to the project in its tag `mlplatform.project`, set by the platform when the
  experiment is created; its name must start with `<project>/` (`churn/baseline`). Untagged
  experiments (MLflow's `Default`, id 0) belong to no project: platform admins only.
- A run, a logged model, a trace and an artifact path (`<experiment id>/...`) belong to their
  experiment's project.
- A registered model belongs to the project in its tag `mlplatform.project`; its name must start
  with `<project>.` (`churn.classifier`: model names cannot contain `/`), so `models:/churn.classifier/1`
  names it unambiguously.
The project tag cannot be changed or removed through `/mlflow`, and renames keep the prefix, so these
mappings never change: ids are cached for good, names for a short time (they can be deleted and
re-created elsewhere).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mlplatform.modules.experiments.hosting.host import MlflowHost

PROJECT_TAG = "mlplatform.project"
PROJECT_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EXPERIMENT_SEPARATOR = "/"
MODEL_SEPARATOR = "."

K = TypeVar("K")
V = TypeVar("V")


def project_of_experiment_name(name: str) -> str | None:
    """`churn/baseline` → `churn`; None when the name has no valid project prefix."""
    return _prefix(name, EXPERIMENT_SEPARATOR)


def project_of_model_name(name: str) -> str | None:
    """`churn.classifier` → `churn`; None when the name has no valid project prefix."""
    return _prefix(name, MODEL_SEPARATOR)


def _prefix(name: str, separator: str) -> str | None:
    head, found, rest = name.partition(separator)
    if not found or not rest.strip() or not PROJECT_NAME.match(head):
        return None
    return head


def project_tag(tags: Any) -> str | None:
    """The project tag from MLflow tags given as a dict or as a list of `{key, value}`."""
    if isinstance(tags, dict):
        value = tags.get(PROJECT_TAG)
        return value if isinstance(value, str) else None
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("key") == PROJECT_TAG:
                value = tag.get("value")
                return value if isinstance(value, str) else None
    return None


class LruCache(Generic[K, V]):
    """A small LRU map with an optional time to live. Used from the event loop only."""

    def __init__(self, size: int, ttl_seconds: float | None = None) -> None:
        self.size = size
        self.ttl = ttl_seconds
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            return None
        stored_at, value = item
        if self.ttl is not None and time.monotonic() - stored_at > self.ttl:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._data[key] = (time.monotonic(), value)
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        self._data.pop(key, None)


_MISSING = ""
"""Cached marker for "exists but belongs to no project" (kept apart from "not cached")."""


class ProjectResolver:
    """Look-ups of the project of MLflow objects, through MLflow's own stores (worker threads, MLflow's
    limiter) and in-process caches. `None` means "does not exist or belongs to no project"."""

    def __init__(self, mlflow: MlflowHost) -> None:
        self.mlflow = mlflow
        self._experiments: LruCache[str, str] = LruCache(20_000)
        self._runs: LruCache[str, str] = LruCache(100_000)
        self._logged_models: LruCache[str, str] = LruCache(20_000)
        self._traces: LruCache[str, str] = LruCache(20_000)
        self._models: LruCache[str, str] = LruCache(5_000, ttl_seconds=30.0)

    async def experiment(self, experiment_id: str) -> str | None:
        cached = self._experiments.get(experiment_id)
        if cached is not None:
            return cached or None
        stores = await self.mlflow.stores()
        experiment = await self._lookup(stores.tracking.get_experiment, experiment_id)
        if experiment is None:
            return None
        project = experiment.tags.get(PROJECT_TAG) or _MISSING
        self._experiments.put(experiment_id, project)
        return project or None

    def remember_experiment(self, experiment_id: str, project: str) -> None:
        self._experiments.put(experiment_id, project)

    def forget_experiment(self, experiment_id: str) -> None:
        """After a hard delete: SQLite may give the id to a new experiment of another project."""
        self._experiments.pop(experiment_id)

    async def experiment_of_run(self, run_id: str) -> str | None:
        cached = self._runs.get(run_id)
        if cached is not None:
            return cached
        stores = await self.mlflow.stores()
        run = await self._lookup(stores.tracking.get_run, run_id)
        if run is None:
            return None
        self._runs.put(run_id, run.info.experiment_id)
        return str(run.info.experiment_id)

    def remember_run(self, run_id: str, experiment_id: str) -> None:
        self._runs.put(run_id, experiment_id)

    async def run(self, run_id: str) -> str | None:
        experiment_id = await self.experiment_of_run(run_id)
        return await self.experiment(experiment_id) if experiment_id is not None else None

    async def logged_model(self, model_id: str) -> str | None:
        experiment_id = self._logged_models.get(model_id)
        if experiment_id is None:
            stores = await self.mlflow.stores()
            model = await self._lookup(_get_logged_model(stores.tracking), model_id)
            if model is None:
                return None
            experiment_id = str(model.experiment_id)
            self._logged_models.put(model_id, experiment_id)
        return await self.experiment(experiment_id)

    async def trace(self, trace_id: str) -> str | None:
        experiment_id = self._traces.get(trace_id)
        if experiment_id is None:
            stores = await self.mlflow.stores()
            info = await self._lookup(stores.tracking.get_trace_info, trace_id)
            if info is None:
                return None
            experiment_id = str(info.experiment_id)
            self._traces.put(trace_id, experiment_id)
        return await self.experiment(experiment_id)

    async def registered_model(self, name: str) -> str | None:
        cached = self._models.get(name)
        if cached is not None:
            return cached or None
        stores = await self.mlflow.stores()
        model = await self._lookup(stores.registry.get_registered_model, name)
        if model is None:
            return None
        project = model.tags.get(PROJECT_TAG) or _MISSING
        self._models.put(name, project)
        return project or None

    def forget_registered_model(self, name: str) -> None:
        self._models.pop(name)

    async def _lookup(self, fn: Callable[[str], Any], key: str) -> Any:
        """`fn(key)` on a worker thread; None when MLflow says the object does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return await self.mlflow.call(fn, key)
        except MlflowException as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
                return None
            raise


def _get_logged_model(tracking: Any) -> Callable[[str], Any]:
    def get(model_id: str) -> Any:
        return tracking.get_logged_model(model_id, allow_deleted=True)

    return get
