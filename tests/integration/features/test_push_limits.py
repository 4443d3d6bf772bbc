"""Uploads that decode to far more than they weigh (decompression bombs) are refused before decoding:
a 413 problem, answered quickly, without the process's memory growing."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.integration.features.stack import Stack
from tests.integration.features.test_push_and_validation import base, live_view, online

ROWS = 5_000_000
CHUNK = 250_000
MAX_GROWTH = 32 * 1024 * 1024
"""Refused before decoding: ~0-2 MiB here; decoding the 5M-row parquet grew the process by ~90 MiB."""
PAGE = os.sysconf("SC_PAGE_SIZE")


def constant_batch(rows: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "driver_id": pa.array(np.ones(rows, dtype="int64")),
            "trips": pa.array(np.ones(rows, dtype="int64")),
            "rating": pa.array(np.ones(rows)),
            "event_timestamp": pa.array(np.full(rows, 1_700_000_000_000_000, dtype="int64")).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )


def parquet_bomb() -> bytes:
    """5M constant rows, zstd: a few hundred KB, written a chunk at a time (the test stays small too)."""
    sink = pa.BufferOutputStream()
    chunk = constant_batch(CHUNK)
    with pq.ParquetWriter(sink, chunk.schema, compression="zstd") as writer:
        for _ in range(ROWS // CHUNK):
            writer.write_batch(chunk, row_group_size=CHUNK)
    return bytes(sink.getvalue().to_pybytes())


def arrow_bomb() -> bytes:
    sink = pa.BufferOutputStream()
    chunk = constant_batch(CHUNK)
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    with pa.ipc.new_stream(sink, chunk.schema, options=options) as writer:
        for _ in range(ROWS // CHUNK):
            writer.write_batch(chunk)
    return bytes(sink.getvalue().to_pybytes())


def string_bomb() -> bytes:
    """300k rows under the row limit, but a 1 KB constant string in every row: 300 MB once decoded."""
    rows = 300_000
    table = pa.table(
        {
            "driver_id": pa.array(np.arange(rows, dtype="int64")),
            "trips": pa.array(np.ones(rows, dtype="int64")),
            "rating": pa.array(np.ones(rows)),
            "event_timestamp": pa.array(np.full(rows, 1_700_000_000_000_000, dtype="int64")).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "extra": pa.array(["x" * 1024]).take(pa.array(np.zeros(rows, dtype="int64"))),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def resident() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """Samples the process's resident memory every 2 ms; yields [growth of the peak over the start]."""
    start = resident()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident())
            done.wait(0.002)  # the sampling interval; returns at once when sampling ends

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result = [0]
    try:
        yield result
    finally:
        done.set()
        thread.join()
        result[0] = peak[0] - start


async def test_compressed_uploads_are_refused_before_decoding(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    bombs = [
        ("application/vnd.apache.parquet", parquet_bomb(), "rows"),
        ("application/vnd.apache.arrow.stream", arrow_bomb(), "rows"),
        ("application/vnd.apache.parquet", string_bomb(), "body"),
    ]
    for content_type, body, field in bombs:
        assert len(body) < 4 * 1024 * 1024
        started = time.monotonic()
        with peak_growth() as growth:
            response = await stack.client.post(
                f"{base(project)}/push/batches",
                params={"push_source": "driver_push", "to": "online_and_offline"},
                content=body,
                headers={**headers, "content-type": content_type},
            )
        elapsed = time.monotonic() - started
        assert response.status_code == 413, (content_type, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field
        assert growth[0] < MAX_GROWTH, f"{content_type}: resident memory grew by {growth[0] / 2**20:.0f} MiB"
        assert elapsed < 10, f"{content_type}: refused after {elapsed:.1f} s"
    assert (await online(stack, project, headers, [1]))["statuses"] == ["NOT_FOUND"]


async def test_malformed_arrow_metadata_is_a_client_error(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    body = arrow_bomb()
    for broken in (body[:300], body[:-20], b"\xff\xff\xff\xff" + b"\x10\x00\x00\x00" + b"\x00" * 16):
        response = await stack.client.post(
            f"{base(project)}/push/batches",
            params={"push_source": "driver_push"},
            content=broken,
            headers={**headers, "content-type": "application/vnd.apache.arrow.stream"},
        )
        assert response.status_code in {413, 422}, response.text
        assert response.headers["content-type"] == "application/problem+json"
