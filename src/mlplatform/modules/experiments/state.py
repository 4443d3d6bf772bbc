"""The experiments module's live objects for one app (kept in `platform.extras`)."""

from __future__ import annotations

from dataclasses import dataclass

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.experiments.authz.gate import MlflowGate
from mlplatform.modules.experiments.authz.projects import ProjectResolver
from mlplatform.modules.experiments.config import MlflowConfig
from mlplatform.modules.experiments.observer import OutboxEventSink
from mlplatform.modules.experiments.reconciler import EventReconciler
from mlplatform.modules.experiments.runtime import MlflowRuntime

STATE_KEY = "experiments"


@dataclass
class ExperimentsState:
    config: MlflowConfig
    runtime: MlflowRuntime
    resolver: ProjectResolver
    events: OutboxEventSink
    gate: MlflowGate
    reconciler: EventReconciler


def experiments_state(platform: PlatformContext) -> ExperimentsState:
    state = platform.extras.get(STATE_KEY)
    if not isinstance(state, ExperimentsState):
        raise Unavailable("the experiments module is not started", component="mlflow")
    return state
