"""The closed-loop load generator of `bench/serving.py`, run as its own process (one per cell).

One asyncio process (uvloop; a minimal keep-alive HTTP/1.1 client on asyncio protocols; msgspec for the JSON
the chained client must read and write) with `concurrency` connections, each sending its next request as
soon as the previous answer is read. Two kinds:

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
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec
import numpy as np


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


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: writes prepared bytes, reads the status and
    the body (Content-Length or chunked). Far cheaper per request than a general client (aiohttp spent
    ~0.5 ms of CPU per request here), which matters when the servers answer in a fraction of a millisecond."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        answer = _parse(self.buffer)
        if answer is not None:
            self.waiter.set_result(answer)
            self.buffer.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def _parse(buffer: bytearray) -> tuple[int, bytes] | None:
    """(status, body) once `buffer` holds a whole response, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        if len(buffer) < end + 4 + length:
            return None
        return status, bytes(buffer[end + 4 : end + 4 + length])
    body = bytearray()
    position = end + 4
    while True:  # chunked
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        if size == 0:
            return (status, bytes(body)) if buffer.find(b"\r\n", line_end + 2) >= 0 else None
        if len(buffer) < line_end + 2 + size + 2:
            return None
        body += buffer[line_end + 2 : line_end + 2 + size]
        position = line_end + 2 + size + 2


class Target:
    """Where requests go, and the request bytes for a JSON body."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n{extra}"

    def request(self, body: bytes) -> bytes:
        return f"{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def connect(self) -> Connection:
        _, connection = await asyncio.get_running_loop().create_connection(Connection, self.host, self.port)
        return connection


async def direct(spec: Spec, window: Window, offset: int) -> None:
    target = Target(spec.url, spec.headers)
    requests = [target.request(b.encode()) for b in spec.bodies]
    connection = await target.connect()
    n = offset
    while time.perf_counter() < window.end:
        request = requests[n % len(requests)]
        n += 1
        if connection.transport is None:  # the server closed it after its last answer
            connection = await target.connect()
        began = time.perf_counter()
        try:
            status, _ = await connection.send(request)
            ok = status == 200
        except ConnectionError:
            ok = False
        window.record(began, time.perf_counter(), ok)


async def chain(spec: Spec, window: Window, offset: int) -> None:
    features, model = Target(spec.url, spec.headers), Target(spec.then_url, {})
    requests = [features.request(b.encode()) for b in spec.bodies]
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    first, second = await features.connect(), await model.connect()
    n = offset
    while time.perf_counter() < window.end:
        request = requests[n % len(requests)]
        n += 1
        if first.transport is None or second.transport is None:
            first, second = await features.connect(), await model.connect()
        began = time.perf_counter()
        try:
            status, raw = await first.send(request)
            ok = status == 200
            if ok:
                status, _ = await second.send(model.request(encode(dataframe_split(decode(raw)))))
                ok = status == 200
        except ConnectionError:
            ok = False
        window.record(began, time.perf_counter(), ok)


async def load(spec: Spec) -> Outcome:
    loop = direct if spec.mode == "direct" else chain
    window = Window(spec.warmup, spec.seconds)
    tasks = [asyncio.create_task(loop(spec, window, i * 7)) for i in range(spec.concurrency)]
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
