"""Event-loop CPU per MLflow request: MLflow's app with its own function middlewares vs the module's.

Every `/mlflow` request runs MLflow's FastAPI app on the event loop that also serves the rest of the
platform (only the Flask handler itself goes to a worker thread). This measures the loop thread's CPU time
(`time.thread_time`, so other load on the machine matters less than for wall-clock figures) per
`GET experiments/get`, driven straight into MLflow's ASGI app on the embedded default, alternating rounds
between MLflow's middleware stack (two `BaseHTTPMiddleware` layers) and the module's plain-ASGI one.

    uv run python bench/experiments_loop_cpu.py [--rounds 5] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PATH = "/mlflow/api/2.0/mlflow/experiments/get"


async def loop_cpu_per_request(app: Any, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"MLflow answered {message['status']}")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "/mlflow",
        "query_string": b"experiment_id=0",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    for _ in range(20):
        await app(dict(scope), receive, send)
    started = time.thread_time()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    return (time.thread_time() - started) / requests * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    from mlplatform.modules.experiments.hosting.config import mlflow_config
    from mlplatform.modules.experiments.hosting.host import MlflowHost
    from mlplatform.settings import Settings

    config = mlflow_config(Settings(data_dir=Path(tempfile.mkdtemp())))
    os.environ.update(config.environment())
    from mlflow.server import fastapi_app

    mlflows = list(fastapi_app.app.user_middleware)  # before the runtime rewires the app
    runtime = MlflowHost(config)
    await runtime.start()
    app: Any = await runtime.app()
    stacks = {"MLflow's middlewares": mlflows, "module's middlewares": list(app.user_middleware)}
    results: dict[str, list[float]] = {name: [] for name in stacks}
    for _ in range(args.rounds):
        for name, middlewares in stacks.items():
            app.user_middleware, app.middleware_stack = middlewares, None
            results[name].append(await loop_cpu_per_request(app, args.requests))
    await runtime.stop()
    for name, values in results.items():
        print(
            f"{name}: {statistics.median(values):.2f} ms loop CPU per request (rounds: "
            f"{', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    asyncio.run(main())
