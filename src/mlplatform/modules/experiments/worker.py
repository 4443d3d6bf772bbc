"""The platform's side of MLflow's server process (`server_process.py`): start it, wait for it, replace it.

One worker serves one MLflow configuration; it listens on a Unix socket in a folder only this user can
enter. Its stdin is a pipe from the platform: when the platform exits, however it exits, the worker sees
EOF and stops. All methods block (they run on worker threads).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import structlog

from mlplatform.modules.experiments.config import MlflowConfig

log = structlog.get_logger("mlplatform.experiments")

READY_TIMEOUT_SECONDS = 120.0
"""Importing MLflow's server takes ~4 s on an idle machine; much longer on a loaded one."""
STOP_GRACE_SECONDS = 10.0


class WorkerFailed(RuntimeError):
    """MLflow's server process could not be started or did not become ready."""


class MlflowWorker:
    def __init__(self, config: MlflowConfig) -> None:
        self.config = config
        self.folder = Path(tempfile.mkdtemp(prefix="mlplatform-mlflow-"))  # mode 0700
        self.socket_path = str(self.folder / "mlflow.sock")
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def ensure_running(self) -> None:
        """Start the worker unless it is running; return once it answers MLflow's `/health`."""
        if self.alive:
            return
        if self._process is not None:
            log.warning("mlflow_worker_exited", pid=self._process.pid, returncode=self._process.returncode)
        started = time.perf_counter()
        Path(self.socket_path).unlink(missing_ok=True)
        self._process = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
            [
                sys.executable,
                "-m",
                "mlplatform.modules.experiments.server_process",
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
        self.starts += 1
        self._wait_ready(self._process)
        log.info("mlflow_worker_ready", pid=self._process.pid, seconds=round(time.perf_counter() - started, 2))

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(transport=httpx.HTTPTransport(uds=self.socket_path), timeout=5.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise WorkerFailed(f"MLflow's server process exited with code {process.returncode} while starting")
                if os.path.exists(self.socket_path):
                    with contextlib.suppress(httpx.TransportError):  # listening, not answering yet: ask again
                        if client.get("http://mlflow/health").status_code == 200:
                            return
                time.sleep(0.05)
        self._terminate(process)
        raise WorkerFailed(f"MLflow's server process did not answer within {READY_TIMEOUT_SECONDS:.0f} s")

    def stop(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL after a grace period) and remove its folder."""
        if self._process is not None:
            self._terminate(self._process)
            self._process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def _terminate(process: subprocess.Popen[bytes]) -> None:
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
                process.stdin.close()
