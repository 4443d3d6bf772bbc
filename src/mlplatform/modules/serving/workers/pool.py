"""`ModelWorkerPool`: one deployment's model, loaded in `processes` child processes, answering predicts.

The event loop never runs `predict`: each request is encoded (msgpack) and sent to the child with the
fewest requests in flight; the children batch what queues up (`batching.py`). Supervision:
- a child that dies (crash, OOM kill, SIGKILL, killed after a predict timeout) fails its in-flight
  requests with WorkerUnavailable and is restarted at once; one that dies again soon after is restarted
  after a delay that doubles up to `Supervision.backoff_max` (a stable run resets it);
- a restart whose load fails is retried with the same backoff; after `max_start_failures` in a row that
  process is given up, and once all are, the pool is broken: predicts answer WorkerUnavailable with
  the reason;
- the other children keep serving meanwhile.
`close()` stops taking work, lets in-flight requests finish (bounded), stops the children and reaps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil
import structlog

from mlplatform.modules.serving.workers.errors import ModelLoadFailed, ModelRaised, PredictInputError, WorkerUnavailable
from mlplatform.modules.serving.workers.process import WorkerProcess, child_environment
from mlplatform.modules.serving.workers.protocol import (
    Answer,
    ColumnSpec,
    Failure,
    FrameRequest,
    ModelInfo,
    Prediction,
    Request,
    TensorRequest,
    encode,
)

__all__ = ["ColumnSpec", "ModelInfo", "ModelWorkerPool", "Prediction", "Supervision", "WorkerSpec"]

log = structlog.get_logger("mlplatform.serving")


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    """For logs and `ps` (the child's command line), e.g. "<deployment-id>:v3"."""
    model_location: str
    """A local folder, file:// URI or s3://bucket/key of the MLflow model directory (the one with MLmodel)."""
    processes: int = 1
    memory_limit_mb: int | None = 2048
    """Per process, as RLIMIT_AS: a limit on virtual address space (see `child.py`)."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Extra variables for the children (MLFLOW_S3_ENDPOINT_URL, AWS_*). The platform's own settings
    (MLPLATFORM_*) and MLflow tracking variables are never passed, whatever the source."""
    max_batch_rows: int = 10_000
    predict_timeout: float = 30.0
    load_timeout: float = 300.0
    """Longest a process may take to download, load and warm up (at start and at every restart)."""


@dataclass(frozen=True)
class Supervision:
    backoff_first: float = 1.0
    backoff_max: float = 30.0
    stable_seconds: float = 60.0
    """A worker that served this long before dying is restarted at once (a new incident, not a loop)."""
    max_start_failures: int = 5


@dataclass
class _Slot:
    """One of the pool's `processes` positions: its current process and its restart history."""

    index: int
    process: WorkerProcess | None = None
    failures: int = 0
    """Deaths soon after a start and failed restarts since the last stable run: sets the backoff."""
    start_failures: int = 0
    given_up: str | None = None
    restart: asyncio.Task[None] | None = None


class ModelWorkerPool:
    def __init__(self, spec: WorkerSpec, *, supervision: Supervision | None = None) -> None:
        if spec.processes < 1:
            raise ValueError("a pool needs at least one process")
        self.spec = spec
        self.supervision = supervision or Supervision()
        self._slots = [_Slot(index) for index in range(spec.processes)]
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self._state = "new"
        self._info: ModelInfo | None = None
        self._broken: str | None = None
        self._restarts = 0
        self._scratch: str | None = None
        self._closed: asyncio.Future[None] | None = None

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    async def start(self) -> ModelInfo:
        """Start every process and return once all are warm; ModelLoadFailed (nothing left running) if one
        cannot load the model: the others are stopped at once."""
        if self._state != "new":
            raise RuntimeError(f"pool {self.spec.name} was already started")
        self._state = "starting"
        self._scratch = tempfile.mkdtemp(prefix="mlplatform-model-")
        for slot in self._slots:
            slot.process = self._new_process(slot)
        starts = [asyncio.ensure_future(slot.process.start()) for slot in self._slots if slot.process]
        try:
            done, _ = await asyncio.wait(starts, return_when=asyncio.FIRST_EXCEPTION)
            failed = next((task for task in done if task.exception() is not None), None)
            if failed is not None:
                exc = failed.exception()
                raise exc if isinstance(exc, ModelLoadFailed) else ModelLoadFailed(f"{type(exc).__name__}: {exc}")
            if self._state != "starting":
                raise ModelLoadFailed(f"the pool {self.spec.name} was closed while its workers were starting")
        except BaseException:
            for task in starts:
                task.cancel()
            await asyncio.gather(*starts, return_exceptions=True)
            await self._shutdown()
            raise
        self._info = starts[0].result()
        self._state = "running"
        log.info(
            "model_workers_ready",
            pool=self.spec.name,
            processes=self.spec.processes,
            load_seconds=self._info.load_seconds,
            rss_mb=self._info.memory_rss_mb,
        )
        return self._info

    async def predict_frame(self, columns: dict[str, list[Any]], *, params: dict[str, Any] | None = None) -> Prediction:
        """Predict on a frame given as columns (in the order given); the model's signature converts types."""
        lengths = {len(values) for values in columns.values()}
        if not columns:
            raise PredictInputError("the input has no columns")
        if len(lengths) > 1:
            raise PredictInputError("the input's columns have different lengths")
        rows = lengths.pop()
        if rows == 0:
            raise PredictInputError("the input has no rows")
        if rows > self.spec.max_batch_rows:
            raise PredictInputError(
                f"{rows} rows in one request; this deployment takes at most {self.spec.max_batch_rows}"
            )
        return await self._call(FrameRequest(id=next(self._ids), columns=columns, params=params))

    async def predict_tensor(self, data: Any, *, params: dict[str, Any] | None = None) -> Prediction:
        """Predict on `instances`/`inputs` data: nested lists, a list of row objects, or name -> nested lists."""
        if isinstance(data, dict):
            rows = max((len(value) if isinstance(value, list) else 1 for value in data.values()), default=0)
        else:
            rows = len(data) if isinstance(data, list) else 1
        if rows > self.spec.max_batch_rows:
            raise PredictInputError(
                f"{rows} rows in one request; this deployment takes at most {self.spec.max_batch_rows}"
            )
        return await self._call(TensorRequest(id=next(self._ids), data=data, params=params))

    async def _call(self, request: Request) -> Prediction:
        try:
            frame = encode(request)
        except (TypeError, OverflowError, ValueError) as exc:
            raise PredictInputError(f"the input holds a value that cannot be passed to the model: {exc}") from None
        reply = await self._pick().call(request.id, frame, self.spec.predict_timeout)
        if isinstance(reply, Answer):
            return Prediction(predictions=reply.predictions)
        if isinstance(reply, Failure) and reply.kind == "input":
            raise PredictInputError(reply.message)
        if isinstance(reply, Failure):
            raise ModelRaised(reply.message)
        raise WorkerUnavailable(f"model worker answered {type(reply).__name__} to a request")

    def _pick(self) -> WorkerProcess:
        if self._state != "running":
            raise WorkerUnavailable(f"the model workers of {self.spec.name} are {self._state}")
        ready = [slot.process for slot in self._slots if slot.process is not None and slot.process.ready]
        if not ready:
            raise WorkerUnavailable(self._broken or f"no model worker of {self.spec.name} is ready (restarting)")
        offset = next(self._turn) % len(ready)  # equal loads: take turns, not always the first
        rotated = ready[offset:] + ready[:offset]
        return min(rotated, key=lambda process: process.in_flight)

    def _new_process(self, slot: _Slot) -> WorkerProcess:
        assert self._scratch is not None
        spec = self.spec
        argv = ["--name", f"{spec.name}#{slot.index}", "--location", spec.model_location, "--scratch", self._scratch]
        argv += ["--memory-limit-mb", str(spec.memory_limit_mb or 0), "--max-batch-rows", str(spec.max_batch_rows)]
        return WorkerProcess(
            name=f"{spec.name}#{slot.index}",
            argv=argv,
            load_timeout=spec.load_timeout,
            environment=child_environment(spec.environment),
            on_exit=lambda process: self._exited(slot, process),
        )

    def _exited(self, slot: _Slot, process: WorkerProcess) -> None:
        if self._state != "running" or slot.process is not process:
            return
        served = time.monotonic() - (process.ready_at or time.monotonic())
        slot.failures = 0 if served >= self.supervision.stable_seconds else slot.failures + 1
        slot.restart = asyncio.create_task(self._restart(slot), name=f"model-worker-restart-{self.spec.name}")

    def _backoff(self, slot: _Slot) -> float:
        if slot.failures <= 1:
            return 0.0
        return float(min(self.supervision.backoff_max, self.supervision.backoff_first * 2 ** (slot.failures - 2)))

    async def _restart(self, slot: _Slot) -> None:
        while self._state == "running":
            delay = self._backoff(slot)
            if delay:
                log.info("model_worker_restart_delayed", pool=self.spec.name, slot=slot.index, seconds=delay)
                await asyncio.sleep(delay)
            if self._state != "running":
                return
            slot.process = process = self._new_process(slot)
            try:
                await process.start()
            except ModelLoadFailed as exc:
                slot.failures += 1
                slot.start_failures += 1
                log.error("model_worker_restart_failed", pool=self.spec.name, slot=slot.index, reason=exc.reason)
                if slot.start_failures >= self.supervision.max_start_failures:
                    slot.given_up = exc.reason
                    self._give_up_check()
                    return
                continue
            slot.start_failures = 0
            self._restarts += 1
            log.info("model_worker_restarted", pool=self.spec.name, slot=slot.index, pid=process.pid)
            return

    def _give_up_check(self) -> None:
        if all(slot.given_up is not None for slot in self._slots):
            reason = self._slots[0].given_up
            self._broken = f"the model workers of {self.spec.name} failed to restart repeatedly: {reason}"
            log.error("model_workers_broken", pool=self.spec.name, reason=reason)

    async def close(self, *, drain_timeout: float = 10.0) -> None:
        """Stop taking work, let in-flight requests finish (up to `drain_timeout`), stop and reap the
        children. Idempotent; a second concurrent call waits for the first."""
        if self._closed is not None:
            await asyncio.shield(self._closed)
            return
        self._closed = asyncio.get_running_loop().create_future()
        try:
            if self._state in ("running", "starting"):
                self._state = "closing"
                in_flight = [future for slot in self._slots if slot.process for future in slot.process.pending()]
                if in_flight:
                    await asyncio.wait(in_flight, timeout=drain_timeout)
            await self._shutdown()
        finally:
            self._closed.set_result(None)

    async def _shutdown(self) -> None:
        self._state = "closed"
        restarts = [slot.restart for slot in self._slots if slot.restart is not None and not slot.restart.done()]
        for task in restarts:
            task.cancel()
        await asyncio.gather(*restarts, return_exceptions=True)
        await asyncio.gather(*(slot.process.stop() for slot in self._slots if slot.process is not None))
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        log.info("model_workers_stopped", pool=self.spec.name)

    def stats(self) -> dict[str, Any]:
        return {"name": self.spec.name, "state": self._state, "broken": self._broken, **self._summary()}

    def _summary(self) -> dict[str, Any]:
        workers = []
        for slot in self._slots:
            process = slot.process
            pid = process.pid if process is not None else None
            workers.append(
                {
                    "slot": slot.index,
                    "pid": pid,
                    "ready": bool(process and process.ready),
                    "in_flight": process.in_flight if process is not None else 0,
                    "rss_mb": _rss_mb(pid) if process is not None and not process.exited.is_set() else None,
                    "given_up": slot.given_up,
                }
            )
        return {
            "processes": self.spec.processes,
            "alive": sum(1 for worker in workers if worker["rss_mb"] is not None),
            "ready": sum(1 for worker in workers if worker["ready"]),
            "restarts": self._restarts,
            "in_flight": sum(worker["in_flight"] for worker in workers),
            "workers": workers,
        }


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error):
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    return None
