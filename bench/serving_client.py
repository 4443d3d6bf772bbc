"""The closed-loop load generator of `bench/serving.py`, run as its own process (one per cell).

One asyncio process (uvloop, aiohttp, msgspec for the JSON the chained client must read and write) with
`concurrency` connections, each sending its next request as soon as the previous answer is read. Two kinds:

- `direct`: POST pre-encoded bodies to one URL (the platform's predict, `mlflow models serve` alone);
- `chain`: what a team's own service does without the platform: POST the entities to `feast serve`'s
  `/get-online-features`, turn its columnar answer into a `dataframe_split` (feature columns in the
  answer's order, one row per entity), POST that to `mlflow models serve`'s `/invocations`. One request's
  latency is the two calls together.

A warm-up, then a measured window: a request counts when it starts and ends inside the window. Reports
requests, errors (a non-200 answer or a transport error), throughput, p50/p99 and the CPU this client
process used during the window (cores: 1.0 = one core busy), as one JSON line on stdout.

    python bench/serving_client.py SPEC.json      (SPEC written by bench/serving.py)
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
import msgspec
import numpy as np

JSON = {"Content-Type": "application/json"}


@dataclass
class Spec:
    mode: str
    """`direct` or `chain`"""
    url: str
    """`direct`: the target; `chain`: feast serve's /get-online-features"""
    bodies: list[str]
    concurrency: int
    warmup: float
    seconds: float
    headers: dict[str, str]
    then_url: str = ""
    """`chain`: mlflow models serve's /invocations"""


@dataclass
class Outcome:
    requests: int
    errors: int
    throughput: float
    p50_ms: float
    p99_ms: float
    client_cpu: float
    """CPU seconds this process spent per second of the measured window (1.0 = one core)."""


class Window:
    def __init__(self, warmup: float, seconds: float) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + seconds
        self.latencies: list[float] = []
        self.errors = 0

    def record(self, began: float, ended: float, ok: bool) -> None:
        if began >= self.start and ended <= self.end:
            if ok:
                self.latencies.append(ended - began)
            else:
                self.errors += 1


def dataframe_split(answer: dict[str, Any]) -> dict[str, Any]:
    """`feast serve`'s columnar answer (the entity column first, then one per feature) as the body of
    `mlflow models serve`'s /invocations: the feature columns in the answer's order, one row per entity."""
    names = answer["metadata"]["feature_names"][1:]
    columns = [column["values"] for column in answer["results"][1:]]
    return {"dataframe_split": {"columns": names, "data": [list(row) for row in zip(*columns, strict=True)]}}


async def direct(session: aiohttp.ClientSession, spec: Spec, window: Window, offset: int) -> None:
    bodies = [b.encode() for b in spec.bodies]
    headers = {**JSON, **spec.headers}
    n = offset
    while time.perf_counter() < window.end:
        body = bodies[n % len(bodies)]
        n += 1
        began = time.perf_counter()
        try:
            async with session.post(spec.url, data=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        window.record(began, time.perf_counter(), ok)


async def chain(session: aiohttp.ClientSession, spec: Spec, window: Window, offset: int) -> None:
    bodies = [b.encode() for b in spec.bodies]
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    n = offset
    while time.perf_counter() < window.end:
        body = bodies[n % len(bodies)]
        n += 1
        began = time.perf_counter()
        try:
            async with session.post(spec.url, data=body, headers=JSON) as response:
                raw = await response.read()
                ok = response.status == 200
            if ok:
                split = dataframe_split(decode(raw))
                async with session.post(spec.then_url, data=encode(split), headers=JSON) as response:
                    await response.read()
                    ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        window.record(began, time.perf_counter(), ok)


async def load(spec: Spec) -> Outcome:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False)
    loop = direct if spec.mode == "direct" else chain
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        window = Window(spec.warmup, spec.seconds)
        tasks = [asyncio.create_task(loop(session, spec, window, i * 7)) for i in range(spec.concurrency)]
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        cpu_start = time.process_time()
        await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
        cpu = time.process_time() - cpu_start
        await asyncio.gather(*tasks)
    latencies = np.array(window.latencies) * 1000.0
    empty = len(latencies) == 0
    return Outcome(
        requests=len(latencies),
        errors=window.errors,
        throughput=len(latencies) / spec.seconds,
        p50_ms=float("nan") if empty else float(np.percentile(latencies, 50)),
        p99_ms=float("nan") if empty else float(np.percentile(latencies, 99)),
        client_cpu=cpu / spec.seconds,
    )


def main() -> None:
    import uvloop

    with open(sys.argv[1]) as file:
        raw: dict[str, Any] = json.load(file)
    outcome = uvloop.run(load(Spec(**raw)))
    print(json.dumps(asdict(outcome)))


if __name__ == "__main__":
    main()
