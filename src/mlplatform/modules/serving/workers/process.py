"""One model worker process, seen from the platform: spawn it, wait until it is warm, pipeline requests to
it, notice its death, stop it. The pool (`pool.py`) decides how many there are and restarts them.

Everything here runs on the event loop and never blocks it: the child is an asyncio subprocess, requests
and answers travel as frames on its stdin/stdout (`protocol.py`), its stderr lines go to the platform log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping

import msgspec
import structlog

from mlplatform.modules.serving.workers.errors import ModelLoadFailed, WorkerUnavailable
from mlplatform.modules.serving.workers.protocol import (
    HEADER,
    LoadError,
    ModelInfo,
    Ready,
    Reply,
    frame_length,
    reply_decoder,
)

log = structlog.get_logger("mlplatform.serving")

CHILD_BOOTSTRAP = (
    "import sys, types, mlplatform.modules as modules; "
    "serving = types.ModuleType('mlplatform.modules.serving'); "
    "serving.__path__ = [modules.__path__[0] + '/serving']; "
    "sys.modules[serving.__name__] = serving; "
    "from mlplatform.modules.serving.workers.child import main; main()"
)
"""`python -c` for `python -m mlplatform.modules.serving.workers.child`, minus one import: `-m` imports every
parent package first, and `serving/__init__.py` declares the module (controllers, the web framework, the
database layer: ~2 s and ~60 MB that every worker would pay and never use). The bootstrap stands an empty
package in for it; the child imports only `workers.*` (and MLflow)."""
EXIT_GRACE_SECONDS = 5.0
"""After its stdin is closed a child answers what it holds and exits; then SIGTERM, then SIGKILL."""
STREAM_LIMIT = 1024 * 1024
LOG_LINES_PER_SECOND = 20
"""A model printing on every row must not flood the platform log: lines beyond this are counted, not logged."""

PRIVATE_PREFIXES = ("MLPLATFORM_", "MLFLOW_TRACKING_", "_MLFLOW_SERVER_")
PRIVATE_NAMES = frozenset({"MLFLOW_REGISTRY_URI"})
"""Never in a child's environment: the platform's settings (database credentials, keys), MLflow's tracking
server and its stores. A model's code runs there; it gets what the deployment's environment gives it."""
SINGLE_THREAD_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}
"""Parallelism is the number of worker processes; thread pools per process would oversubscribe the cores
and reserve address space (each thread's stack and malloc arena counts against RLIMIT_AS)."""


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    environment = {**SINGLE_THREAD_DEFAULTS, **os.environ, **extra}
    return {
        name: value
        for name, value in environment.items()
        if not name.startswith(PRIVATE_PREFIXES) and name not in PRIVATE_NAMES
    }


class WorkerProcess:
    """A child process. `ready` once it sent `Ready`; `on_exit(self)` is called once when it has exited
    (after its in-flight requests failed with WorkerUnavailable)."""

    def __init__(
        self,
        *,
        name: str,
        argv: list[str],
        load_timeout: float,
        environment: Mapping[str, str],
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.name = name
        self.argv = argv
        self.load_timeout = load_timeout
        self.environment = environment
        self.on_exit = on_exit
        self.process: asyncio.subprocess.Process | None = None
        self.ready_at: float | None = None
        self.last_reply_at = 0.0
        self.exited = asyncio.Event()
        self.returncode: int | None = None
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._death_reason: str | None = None
        self._recent_output: deque[str] = deque(maxlen=8)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def ready(self) -> bool:
        return self.ready_at is not None and not self.exited.is_set() and self._death_reason is None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def pending(self) -> list[asyncio.Future[Reply]]:
        return list(self._pending.values())

    async def start(self) -> ModelInfo:
        """Spawn the child and wait until it is warm; ModelLoadFailed (and no process left) otherwise."""
        started = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD_BOOTSTRAP,
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(self.environment),
            limit=STREAM_LIMIT,
        )
        self._tasks.append(asyncio.create_task(self._log_output(), name=f"model-worker-log-{self.pid}"))
        try:
            async with asyncio.timeout(self.load_timeout):
                first = await self._read_reply()
        except BaseException as exc:
            await self.stop(grace=0)
            if isinstance(exc, TimeoutError):
                raise ModelLoadFailed(f"the model was not loaded within {self.load_timeout:g} s") from exc
            if isinstance(exc, asyncio.IncompleteReadError | ConnectionError | ValueError | msgspec.DecodeError):
                raise ModelLoadFailed(self._exit_reason("while loading the model")) from exc
            raise
        if isinstance(first, LoadError):
            await self.stop(grace=EXIT_GRACE_SECONDS)
            raise ModelLoadFailed(first.reason)
        if not isinstance(first, Ready):
            await self.stop(grace=0)
            raise ModelLoadFailed(f"the model worker sent {type(first).__name__} before it was ready")
        self.ready_at = self.last_reply_at = time.monotonic()
        self._tasks.append(asyncio.create_task(self._read_replies(), name=f"model-worker-replies-{self.pid}"))
        return msgspec.structs.replace(first.info, load_seconds=round(self.ready_at - started, 2))

    async def call(self, request_id: int, frame: bytes, answer_within: float) -> Reply:
        """Send one request frame and wait for its reply. WorkerUnavailable if the child dies meanwhile or
        does not answer within `answer_within` seconds (it is then killed: its model is stuck, and the pool
        restarts it)."""
        process = self.process
        if process is None or process.stdin is None or not self.ready:
            raise WorkerUnavailable(f"model worker {self.name} is not running")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        sent_at = time.monotonic()
        try:
            async with asyncio.timeout(answer_within):
                process.stdin.write(frame)
                await process.stdin.drain()
                return await future
        except TimeoutError:
            # Stuck (nothing answered since this request was sent): kill it. Answering, but this request
            # waited behind too many others: fail this one, keep the worker.
            if self.last_reply_at <= sent_at:
                self.kill(f"no answer for {answer_within:g} s")
                detail = f"the model did not answer within {answer_within:g} s; its worker is being restarted"
            else:
                detail = f"the model did not answer within {answer_within:g} s: its workers are overloaded"
            raise WorkerUnavailable(detail) from None
        except ConnectionError as exc:
            raise WorkerUnavailable(f"model worker {self.name} went away: {exc}") from None
        finally:
            self._pending.pop(request_id, None)

    def kill(self, reason: str) -> None:
        """SIGKILL the child now (a stuck predict cannot be interrupted any other way)."""
        if self._death_reason is None:
            self._death_reason = reason
        if self.process is not None and self.process.returncode is None:
            log.warning("model_worker_killed", worker=self.name, pid=self.pid, reason=reason)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def stop(self, grace: float = EXIT_GRACE_SECONDS) -> None:
        """Close its stdin (it answers what it holds and exits), then SIGTERM, then SIGKILL; reap it."""
        process = self.process
        if process is None:
            return
        self._death_reason = self._death_reason or "stopped"
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        for signum, wait in ((None, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
            if signum is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), wait)
                break
            except TimeoutError:
                continue
        self.returncode = process.returncode
        for task in self._tasks:  # its output and reply readers end at EOF; one still busy is cancelled
            if task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 2.0)

    async def _read_reply(self) -> Reply:
        assert self.process is not None
        assert self.process.stdout is not None
        stdout = self.process.stdout
        header = await stdout.readexactly(HEADER.size)
        return reply_decoder.decode(await stdout.readexactly(frame_length(header)))

    async def _read_replies(self) -> None:
        """Route each reply to its waiting request; at EOF the child is gone: fail what was in flight."""
        try:
            while True:
                reply = await self._read_reply()
                self.last_reply_at = time.monotonic()
                future = self._pending.get(getattr(reply, "id", -1))
                if future is not None and not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except (ValueError, msgspec.DecodeError) as exc:
            self.kill(f"its reply stream is unreadable ({exc})")
        assert self.process is not None
        self.returncode = await self.process.wait()
        reason = self._exit_reason("during the request")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerUnavailable(reason))
        self.exited.set()
        if self._death_reason != "stopped":
            log.warning("model_worker_exited", worker=self.name, pid=self.pid, reason=reason)
        self.on_exit(self)

    def _exit_reason(self, when: str) -> str:
        assert self.process is not None
        code = self.process.returncode
        if self._death_reason is not None and self._death_reason != "stopped":
            how = f"was killed: {self._death_reason}"
        elif code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        reason = f"model worker {self.name} {how} {when}"
        if self._recent_output and self.ready_at is None:
            reason += "; its last output: " + " | ".join(self._recent_output)
        return reason

    async def _log_output(self) -> None:
        """The child's stderr (its logging, and whatever the model prints) into the platform log."""
        assert self.process is not None
        assert self.process.stderr is not None
        stderr, pid = self.process.stderr, self.process.pid
        window, logged, suppressed = time.monotonic(), 0, 0
        while True:
            try:
                raw = await stderr.readline()
            except ValueError:  # a line longer than STREAM_LIMIT: its start was dropped
                continue
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self._recent_output.append(line[:300])
            now = time.monotonic()
            if now - window >= 1.0:
                if suppressed:
                    log.warning("model_worker_output_suppressed", worker=self.name, pid=pid, lines=suppressed)
                window, logged, suppressed = now, 0, 0
            if logged >= LOG_LINES_PER_SECOND:
                suppressed += 1
                continue
            logged += 1
            head = line[:40]
            level = "error" if ("ERROR" in head or "CRITICAL" in head or "Traceback" in head) else "warning"
            level = level if level == "error" or "WARNING" in head else "info"
            getattr(log, level)("model_worker_output", worker=self.name, pid=pid, line=line)
