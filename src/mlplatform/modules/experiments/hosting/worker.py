"""The platform's side of MLflow's server process (`server_process.py`): start it, supervise it, stop it.

One worker serves one MLflow configuration; it listens on a Unix socket in a folder only this user can
enter. Its stdin is a pipe from the platform: when the platform exits, however it exits, the worker sees
EOF and stops (and removes its socket folder).

Supervision: a watcher thread waits on the process (`Popen.wait`, i.e. `waitpid`), so a death is seen the
moment it happens, logged once, and the process is started again at once. A restart that fails is retried
after a delay that doubles up to `RESTART_BACKOFF_MAX_SECONDS` (reset once a process stayed up for
`STABLE_SECONDS`), so a server that cannot start (its database is down) costs one log line per attempt,
not a busy loop. All methods block (they run on worker threads).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import structlog

from mlplatform.modules.experiments.hosting.config import MlflowConfig

log = structlog.get_logger("mlplatform.experiments")

READY_TIMEOUT_SECONDS = 120.0
"""Importing MLflow's server takes ~4 s on an idle machine; much longer on a loaded one."""
STOP_GRACE_SECONDS = 10.0
RESTART_BACKOFF_FIRST_SECONDS = 1.0
"""Delay before the second attempt when a restart failed (the first attempt after a death is immediate)."""
RESTART_BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0
"""A process that served this long resets the backoff: its death is a new incident, restarted at once.
One that died younger counts as a failed attempt."""


class WorkerFailed(RuntimeError):
    """MLflow's server process could not be started or did not become ready."""


class RestartBackoff:
    """Delays between restart attempts: 0 after a death, then 1, 2, 4 ... up to a maximum."""

    def __init__(
        self, first: float = RESTART_BACKOFF_FIRST_SECONDS, maximum: float = RESTART_BACKOFF_MAX_SECONDS
    ) -> None:
        self.first = first
        self.maximum = maximum
        self.failures = 0

    def delay(self) -> float:
        if self.failures == 0:
            return 0.0
        return float(min(self.maximum, self.first * 2 ** (self.failures - 1)))

    def failed(self) -> None:
        self.failures += 1

    def reset(self) -> None:
        self.failures = 0


class MlflowWorker:
    def __init__(self, config: MlflowConfig) -> None:
        self.config = config
        self.folder = Path(tempfile.mkdtemp(prefix="mlplatform-mlflow-"))  # mode 0700
        self.socket_path = str(self.folder / "mlflow.sock")
        self._process: subprocess.Popen[bytes] | None = None
        self._ready_at: float | None = None
        """When the current process answered its first health check; None while starting or after a failure."""
        self._lock = threading.Lock()
        """Held while a process is started or stopped (by a request's revive, the watcher or `stop`)."""
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._backoff = RestartBackoff()
        self.starts = 0

    @property
    def alive(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    @property
    def ready(self) -> bool:
        """Running and answering (a process that is still starting is alive but not ready)."""
        return self._ready_at is not None and self.alive

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def ensure_running(self) -> None:
        """Start the worker unless it is running; return once it answers MLflow's `/health`."""
        with self._lock:
            if self._stopping.is_set():
                raise WorkerFailed("MLflow's server process is stopping")
            if self.alive:
                return
            self._start()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._supervise, name="mlflow-supervisor", daemon=True)
                self._watcher.start()

    def _start(self) -> None:
        started = time.perf_counter()
        self._ready_at = None
        Path(self.socket_path).unlink(missing_ok=True)
        process = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
            [
                sys.executable,
                "-m",
                "mlplatform.modules.experiments.hosting.server_process",
                "--socket",
                self.socket_path,
                "--threads",
                str(self.config.threads),
                "--niceness",
                str(self.config.server_niceness),
            ],
            stdin=subprocess.PIPE,
            # Same session as the platform, on purpose: with Linux's autogroup scheduling each session is its
            # own CPU group, and niceness only ranks processes within one group.
            env={**os.environ, **self.config.environment()},
        )
        self._process = process
        self.starts += 1
        self._wait_ready(process)
        self._ready_at = time.monotonic()
        log.info("mlflow_worker_ready", pid=process.pid, seconds=round(time.perf_counter() - started, 2))

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(transport=httpx.HTTPTransport(uds=self.socket_path), timeout=5.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise WorkerFailed(f"MLflow's server process exited with code {process.returncode} while starting")
                if self._stopping.is_set():
                    self._terminate(process)
                    raise WorkerFailed("MLflow's server process was stopped while starting")
                if os.path.exists(self.socket_path):
                    with contextlib.suppress(httpx.TransportError):  # listening, not answering yet: ask again
                        if client.get("http://mlflow/health").status_code == 200:
                            return
                time.sleep(0.05)
        self._terminate(process)
        raise WorkerFailed(f"MLflow's server process did not answer within {READY_TIMEOUT_SECONDS:.0f} s")

    def _supervise(self) -> None:
        """The watcher thread: wait for the process to end; unless stopping, start a new one right away
        (after a backoff delay when the previous one died young or a restart failed)."""
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            process.wait()
            if self._stopping.is_set():
                return
            if process is self._process:  # not already replaced by a request's revive
                if self._ready_at is not None:  # it was serving: a death, not a failed start
                    if time.monotonic() - self._ready_at >= STABLE_SECONDS:
                        self._backoff.reset()
                    else:
                        self._backoff.failed()
                    log.warning(
                        "mlflow_worker_exited",
                        pid=process.pid,
                        returncode=process.returncode,
                        restart_in_seconds=self._backoff.delay(),
                    )
                    self._ready_at = None
                delay = self._backoff.delay()
                if delay and self._stopping.wait(delay):
                    return
            try:
                self.ensure_running()
            except Exception as exc:
                if self._stopping.is_set():
                    return
                self._backoff.failed()
                log.error(
                    "mlflow_worker_restart_failed",
                    error=f"{type(exc).__name__}: {exc}",
                    attempt=self._backoff.failures,
                    retry_in_seconds=self._backoff.delay(),
                )

    def stop(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL after a grace period), its watcher, and remove its folder."""
        self._stopping.set()
        process = self._process
        if process is not None:
            # Outside the lock: a start in progress holds it and gives up once the process is gone.
            self._terminate(process)
        with self._lock:
            if self._process is not None:
                self._terminate(self._process)
                self._process = None
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(STOP_GRACE_SECONDS)
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
        try:
            if process.poll() is not None:
                return
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        finally:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
