"""Row counts and decoded sizes of Arrow IPC record batches, read from their metadata before decoding.

A compressed IPC buffer announces its decompressed length in its first 8 bytes, and the message metadata
(a flatbuffer, `Message.fbs` / `Schema.fbs` of the Arrow format) says where each buffer is and how many
rows the batch has. pyarrow decodes a whole batch at once and exposes none of this, so a 400 KB stream can
ask for gigabytes; reading these few fields first lets a push refuse it without decoding anything.

Only the fields needed are read (Message.header_type / header, RecordBatch.length / buffers /
compression, DictionaryBatch.data); every offset is bounds-checked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RECORD_BATCH = 3
DICTIONARY_BATCH = 2


class MalformedMetadata(ValueError):
    """The bytes are not a well-formed IPC message."""


@dataclass(frozen=True)
class BatchSize:
    rows: int
    """0 for dictionary batches (their rows are dictionary values, counted in `decoded_bytes`)."""
    decoded_bytes: int


class _Table:
    """One flatbuffer table: reads fields by index through its vtable."""

    def __init__(self, buf: bytes | memoryview, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self.vtable = pos - _unpack("<i", buf, pos)
        self.vtable_size = _unpack("<H", buf, self.vtable)

    def _field(self, index: int) -> int:
        entry = 4 + 2 * index
        if entry + 2 > self.vtable_size:
            return 0
        relative = _unpack("<H", self.buf, self.vtable + entry)
        return self.pos + relative if relative else 0

    def scalar(self, index: int, fmt: str, default: int) -> int:
        where = self._field(index)
        return _unpack(fmt, self.buf, where) if where else default

    def table(self, index: int) -> _Table | None:
        where = self._field(index)
        return _Table(self.buf, where + _unpack("<I", self.buf, where)) if where else None

    def structs(self, index: int, fmt: str) -> list[tuple[int, ...]]:
        where = self._field(index)
        if not where:
            return []
        start = where + _unpack("<I", self.buf, where)
        count = _unpack("<I", self.buf, start)
        size = struct.calcsize(fmt)
        if start + 4 + count * size > len(self.buf):
            raise MalformedMetadata("vector runs past the end of the metadata")
        return [struct.unpack_from(fmt, self.buf, start + 4 + i * size) for i in range(count)]


def _unpack(fmt: str, buf: bytes | memoryview, pos: int) -> int:
    if pos < 0:
        raise MalformedMetadata("negative offset")
    try:
        value: int = struct.unpack_from(fmt, buf, pos)[0]
    except struct.error:
        raise MalformedMetadata("offset past the end of the metadata") from None
    return value


def batch_size(metadata: bytes | memoryview, body: bytes | memoryview) -> BatchSize | None:
    """Rows and decoded bytes of a record or dictionary batch message; None for other messages (schema)."""
    message = _Table(metadata, _unpack("<I", metadata, 0))
    kind = message.scalar(1, "<B", 0)
    header = message.table(2)
    if header is None or kind not in (RECORD_BATCH, DICTIONARY_BATCH):
        return None
    if kind == DICTIONARY_BATCH:
        data = header.table(1)
        if data is None:
            raise MalformedMetadata("dictionary batch without data")
        return BatchSize(0, _decoded_bytes(data, body))
    rows = header.scalar(0, "<q", 0)
    if rows < 0:
        raise MalformedMetadata("negative row count")
    return BatchSize(rows, _decoded_bytes(header, body))


def _decoded_bytes(record_batch: _Table, body: bytes | memoryview) -> int:
    compressed = record_batch.table(3) is not None
    total = 0
    for offset, length in record_batch.structs(2, "<qq"):
        if offset < 0 or length < 0 or offset + length > len(body):
            raise MalformedMetadata("buffer outside the message body")
        if not compressed or length == 0:
            total += length
            continue
        if length < 8:
            raise MalformedMetadata("compressed buffer without its length prefix")
        announced = _unpack("<q", body, offset)
        if announced == -1:  # stored uncompressed
            total += length - 8
        elif announced < 0:
            raise MalformedMetadata("negative decompressed length")
        else:
            total += announced
    return total
