"""The experiments module's part of a project's purge (`kernel/purge.py`): MLflow objects, hard-deleted.

Found by the project tag (or, untagged, by the `<project>/` / `<project>.` name prefix):
- registered models (prompts included) with their versions, tags and aliases;
- experiments with their runs (metrics, params, tags, inputs), traces, logged models, datasets, evaluation
  records and every other MLflow row that names the experiment, then the experiment itself — hard deleted as
  `mlflow gc` does, not moved to MLflow's trash, so nothing can be restored into a new project of the name;
- the artifacts under each experiment's location in the platform's object store (`mlflow/<experiment id>/`),
  deleted first: the rows say where they are, so a retried purge still finds them.
SQLite reuses the id of the newest experiment once it is hard-deleted: the MLflow rows that name it without a
foreign key (rollups, assessments ...) are removed too, and this process forgets the id's project.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.purge import delete_objects_under
from mlplatform.modules.experiments.authz.projects import (
    PROJECT_TAG,
    project_of_experiment_name,
    project_of_model_name,
)
from mlplatform.modules.experiments.hosting.config import ARTIFACT_PREFIX
from mlplatform.modules.experiments.hosting.host import Stores
from mlplatform.modules.experiments.repositories import delete_run_links
from mlplatform.modules.experiments.runtime import ExperimentsRuntime

PAGE = 1000
PROMPT_TAG = "mlflow.prompt.is_prompt"
"""MLflow keeps prompts as registered models that its default search leaves out."""


@dataclass
class Found:
    experiments: dict[str, str] = field(default_factory=dict)
    """Experiment id -> artifact location."""
    models: set[str] = field(default_factory=set)


async def purge_project(platform: PlatformContext, project: str) -> Mapping[str, int]:
    runtime = platform.runtimes.get(ExperimentsRuntime)
    stores = await runtime.mlflow.stores()
    found = await runtime.mlflow.call(find_project_objects, stores, project)
    artifacts = 0
    root = platform.object_store.root_uri
    for experiment_id, location in found.experiments.items():
        prefix = artifact_prefix(location, experiment_id, root)
        if prefix is not None:
            artifacts += await delete_objects_under(platform.object_store, prefix)
    removed = await runtime.mlflow.call(delete_mlflow_objects, stores, found)
    for experiment_id in found.experiments:
        runtime.resolver.forget_experiment(experiment_id)
    for name in found.models:
        runtime.resolver.forget_registered_model(name)
    async with platform.database.transaction() as session:
        links = await delete_run_links(session, project)
    return {**removed, "artifacts": artifacts, "run_links": links}


def artifact_prefix(location: str, experiment_id: str, store_root: str) -> str | None:
    """The object-store prefix of an experiment's artifacts; None when they are not in the platform's store."""
    if not location:
        return f"{ARTIFACT_PREFIX}/{experiment_id}/"
    parts = urlsplit(location)
    if parts.scheme == "mlflow-artifacts":
        path = parts.path.strip("/")
        return f"{ARTIFACT_PREFIX}/{path}/" if path else None
    root = store_root.rstrip("/") + "/"
    if location.startswith(root) and location.rstrip("/") + "/" != root:
        return location[len(root) :].strip("/") + "/"
    return None


# ----------------------------------------------------------------- blocking: MLflow's stores, worker threads


def find_project_objects(stores: Stores, project: str) -> Found:
    from mlflow.entities import ViewType

    found = Found()
    for filter_string in (f"tags.`{PROJECT_TAG}` = '{project}'", f"name LIKE '{project}/%'"):
        for experiment in _pages(
            lambda token, f=filter_string: stores.tracking.search_experiments(
                view_type=ViewType.ALL, max_results=PAGE, filter_string=f, page_token=token
            )
        ):
            if _belongs(experiment.tags.get(PROJECT_TAG), project_of_experiment_name(experiment.name), project):
                found.experiments[str(experiment.experiment_id)] = experiment.artifact_location or ""
    for filter_string in (f"tags.`{PROJECT_TAG}` = '{project}'", f"name LIKE '{project}.%'"):
        for extra in ("", f" AND tags.`{PROMPT_TAG}` = 'true'"):
            for model in _pages(
                lambda token, f=filter_string + extra: stores.registry.search_registered_models(
                    filter_string=f, max_results=PAGE, page_token=token
                )
            ):
                if _belongs(model.tags.get(PROJECT_TAG), project_of_model_name(model.name), project):
                    found.models.add(model.name)
    return found


def delete_mlflow_objects(stores: Stores, found: Found) -> dict[str, int]:
    from mlflow.entities import LifecycleStage, ViewType

    tracking = stores.tracking
    counts = {"registered_models": 0, "experiments": 0, "runs": 0, "traces": 0}
    for name in sorted(found.models):
        _ignore_missing(stores.registry.delete_registered_model, name)
        counts["registered_models"] += 1
    for experiment_id in sorted(found.experiments):
        experiment = _ignore_missing(tracking.get_experiment, experiment_id)
        if experiment is None:
            continue
        counts["traces"] += int(
            tracking._delete_traces(experiment_id, max_timestamp_millis=int(time.time() * 1000) + 86_400_000) or 0
        )
        run_ids = [
            run.info.run_id
            for run in _pages(
                lambda token, e=experiment_id: tracking.search_runs(
                    [e], "", ViewType.ALL, max_results=PAGE, page_token=token
                )
            )
        ]
        for run_id in run_ids:
            tracking._hard_delete_run(run_id)
        counts["runs"] += len(run_ids)
        if experiment.lifecycle_stage == LifecycleStage.ACTIVE:
            tracking.delete_experiment(experiment_id)
        _delete_rows_naming(tracking, int(experiment_id))
        tracking._hard_delete_experiment(experiment_id)
        counts["experiments"] += 1
    return counts


def _delete_rows_naming(tracking: Any, experiment_id: int) -> None:
    """Every MLflow row with this `experiment_id` but the experiment's own, dependants first."""
    from mlflow.store.db.base_sql_model import Base

    with tracking.ManagedSessionMaker(read_only=False) as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "experiments" and "experiment_id" in table.c:
                session.execute(table.delete().where(table.c.experiment_id == experiment_id))


def _belongs(tagged: str | None, by_name: str | None, project: str) -> bool:
    """The tag decides; an untagged object belongs to the project its name starts with."""
    return tagged == project if tagged is not None else by_name == project


def _pages(fetch: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = fetch(token)
        items.extend(page)
        token = getattr(page, "token", None)
        if not token:
            return items


def _ignore_missing(fn: Any, *args: Any) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
