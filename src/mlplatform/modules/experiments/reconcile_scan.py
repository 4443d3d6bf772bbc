"""What MLflow's stores hold in a time window: runs that ended, model versions that were created.

Blocking functions over MLflow's store API (never its tables directly), run by the reconciler on the
MLflow host's own limiter, one call per scan. Only objects of a project are returned: the observer does
not publish events for untagged objects (MLflow's `Default` experiment, models never adopted) either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlplatform.modules.experiments.authz.projects import PROJECT_TAG, project_tag
from mlplatform.modules.experiments.hosting.host import Stores
from mlplatform.modules.experiments.snapshots import VersionFacts

TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})
PAGE = 1000
"""MLflow's largest page for experiment and run searches."""
EXPERIMENTS_PER_SEARCH = 100
"""Experiment ids per run search (one `IN (...)` list)."""


@dataclass(frozen=True)
class EndedRun:
    run: Any
    """MLflow's `Run` entity (info, metrics, params)."""
    project: str
    experiment_name: str

    @property
    def key(self) -> tuple[str, str]:
        return str(self.run.info.run_id), str(self.run.info.status)


@dataclass(frozen=True)
class CreatedVersion:
    facts: VersionFacts
    project: str

    @property
    def key(self) -> tuple[str, int]:
        return self.facts.name, self.facts.version


def ended_runs(stores: Stores, since_ms: int, until_ms: int) -> list[EndedRun]:
    """Runs of project experiments (deleted ones included) in a terminal status whose end time is in
    `[since_ms, until_ms]`. End times come from the client that finished the run."""
    from mlflow.entities import ViewType

    experiments = _project_experiments(stores)
    found: list[EndedRun] = []
    query = f"attributes.end_time >= {int(since_ms)} AND attributes.end_time <= {int(until_ms)}"
    ids = sorted(experiments)
    for start in range(0, len(ids), EXPERIMENTS_PER_SEARCH):
        chunk = ids[start : start + EXPERIMENTS_PER_SEARCH]

        def search(token: str | None, chunk: list[str] = chunk) -> Any:
            return stores.tracking.search_runs(chunk, query, ViewType.ALL, max_results=PAGE, page_token=token)

        for run in _pages(search):
            if str(run.info.status) not in TERMINAL_STATUSES:
                continue
            project, name = experiments[str(run.info.experiment_id)]
            found.append(EndedRun(run, project, name))
    return found


def created_versions(stores: Stores, since_ms: int, until_ms: int) -> list[CreatedVersion]:
    """Model versions of project models created in `[since_ms, until_ms]` (MLflow's server clock),
    newest first. MLflow cannot filter versions by time: pages are read newest first until older."""
    found: list[CreatedVersion] = []
    projects: dict[str, str | None] = {}
    for version in _pages(
        lambda token: stores.registry.search_model_versions(
            max_results=PAGE, order_by=["creation_timestamp DESC"], page_token=token
        ),
        stop=lambda version: int(version.creation_timestamp or 0) < since_ms,
    ):
        if int(version.creation_timestamp or 0) > until_ms:
            continue
        name = str(version.name)
        if name not in projects:
            projects[name] = project_tag(dict(stores.registry.get_registered_model(name).tags or {}))
        project = projects[name]
        if project:
            found.append(CreatedVersion(VersionFacts.from_entity(version), project))
    return found


def _project_experiments(stores: Stores) -> dict[str, tuple[str, str]]:
    """experiment id → (project, name) for every experiment of a project, deleted ones included."""
    from mlflow.entities import ViewType

    experiments: dict[str, tuple[str, str]] = {}
    for experiment in _pages(
        lambda token: stores.tracking.search_experiments(view_type=ViewType.ALL, max_results=PAGE, page_token=token)
    ):
        project = experiment.tags.get(PROJECT_TAG)
        if project:
            experiments[str(experiment.experiment_id)] = (project, str(experiment.name))
    return experiments


def _pages(search: Callable[[str | None], Any], stop: Callable[[Any], bool] | None = None) -> Iterator[Any]:
    """Items of a paged MLflow search (`PagedList` with `.token`); `stop(item)` ends it early."""
    token = None
    while True:
        page = search(token)
        for item in page:
            if stop is not None and stop(item):
                return
            yield item
        token = page.token
        if not token:
            return
