"""The app's side of jobs: register every module's job kinds, start the runtime once, stop it first.

`create_app` calls these from its lifespan, so the jobs runtime (and `/api/v1/jobs`) exist whatever
modules are enabled, and `mlplatform worker` — the same app without HTTP — knows every job kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.jobs.registry import JobRegistry
from mlplatform.kernel.jobs.runtime import JobRuntime, jobs_runtime

JobRegistrar = Callable[[JobRegistry], None]
"""Registers a module's job kinds: `def register(registry): registry.register(JobDefinition(...))`."""


async def start_jobs(platform: PlatformContext, registrars: Iterable[JobRegistrar]) -> JobRuntime:
    """Register the job kinds, then start delivering jobs. Call after the modules started: a job
    picked up at once may need any module's singletons."""
    runtime = jobs_runtime(platform)
    for register in registrars:
        register(runtime.registry)
    await runtime.start()
    return runtime


async def stop_jobs(platform: PlatformContext) -> None:
    """Stop the runtime if one was created. Call before the modules stop: running jobs still use them."""
    runtime = platform.runtimes.find(JobRuntime)
    if runtime is not None:
        await runtime.stop()
