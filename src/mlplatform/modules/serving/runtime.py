"""The serving module's live objects for one app: the supervisor of this replica's model workers, the monitor
and the prediction log."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.events import StoredEvent, Subscriber
from mlplatform.modules.catalogue.api import DeploymentChanged
from mlplatform.modules.gateway.api import find_project_directory
from mlplatform.modules.serving.monitoring import Monitor
from mlplatform.modules.serving.prediction_log.writer import PredictionLog
from mlplatform.modules.serving.supervisor import Supervisor

SUBSCRIBER_NAME = "serving.deployments"


class ServingRuntime:
    component = "serving"

    def __init__(self, platform: PlatformContext) -> None:
        self.platform = platform
        self.enabled = platform.settings.serving.enabled
        self.monitor = Monitor(platform)
        self.supervisor = Supervisor(platform, self.monitor)
        self.prediction_log = PredictionLog(
            platform.object_store, platform.settings.serving, lambda: find_project_directory(platform)
        )

    async def start(self) -> None:
        if self.enabled:
            await self.supervisor.start()
            self.monitor.loop.start()
            self.prediction_log.loop.start()

    async def stop(self) -> None:
        await self.supervisor.stop()  # first: the predictions it lets finish are logged
        await self.prediction_log.stop()
        await self.monitor.loop.stop()
        await self.monitor.flush()


def build_runtime(platform: PlatformContext) -> ServingRuntime:
    return ServingRuntime(platform)


def deployments_subscriber(platform: PlatformContext) -> Subscriber:
    """A managed deployment changed (created, re-tried, retired, its share or options changed): reconcile now
    instead of at the next round. The round reads the committed state, so the event's content is not needed."""

    async def handle(_session: AsyncSession, stored: StoredEvent) -> None:
        runtime = platform.runtimes.find(ServingRuntime)
        if runtime is not None and runtime.enabled and stored.decode(DeploymentChanged).mode == "managed":
            runtime.supervisor.wake()

    return Subscriber(name=SUBSCRIBER_NAME, handler=handle, event_types=frozenset({DeploymentChanged.event_type}))
