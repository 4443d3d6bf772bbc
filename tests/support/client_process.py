"""Run client code (the stock `mlflow` library) in a fresh process, as a data scientist's notebook would."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def in_client_process(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a spawned process.

    Not in the test process: an in-process MLflow server (the integration tests host one) points the
    `mlflow` library's default tracking and registry URIs at its database, which the client would use.
    """
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result(timeout=600)
