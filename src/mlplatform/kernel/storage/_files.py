"""Atomic file writes shared by both stores: write a temp file beside the target, fsync, `os.replace`.

Readers therefore see either the old content or the new one, never a partial file, and a crash
leaves at most a stray temp file (named with `TMP_PREFIX`, which the local store never lists).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import BinaryIO

TMP_PREFIX = ".mlp-tmp-"
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def open_temp_beside(target: str | os.PathLike[str]) -> tuple[str, BinaryIO]:
    """Create the target's folder and an exclusive temp file in it; return its path and handle."""
    parent = os.path.dirname(os.path.abspath(target))
    attempts = 0
    while True:
        os.makedirs(parent, exist_ok=True)
        tmp = os.path.join(parent, TMP_PREFIX + secrets.token_hex(8))
        try:
            fd = os.open(tmp, _OPEN_FLAGS, 0o666)
        except FileNotFoundError:
            # A concurrent delete pruned the (then empty) folder between makedirs and open.
            attempts += 1
            if attempts >= 3:
                raise
            continue
        return tmp, os.fdopen(fd, "wb")


def commit(file: BinaryIO, tmp: str, target: str | os.PathLike[str]) -> None:
    """Make the temp file durable and move it over the target in one step."""
    try:
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(tmp, target)
    except BaseException:
        discard(file, tmp)
        raise


def discard(file: BinaryIO, tmp: str) -> None:
    """Close and remove a temp file that will not be committed (never raises)."""
    with contextlib.suppress(OSError):
        file.close()
    with contextlib.suppress(OSError):
        os.unlink(tmp)
