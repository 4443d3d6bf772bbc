"""Micro-batching (child side): requests that queued up while the model was busy are predicted together.

A pyfunc `predict` on a small frame is mostly fixed cost (schema enforcement, DataFrame building, the
flavor's own checks), so 16 one-row requests predicted as one 16-row frame cost little more than one.
Requests are merged only when the merge cannot change what each caller gets:
- frame requests without params (params may change the model's behaviour per request);
- the same column names in the same order, and per column the same set of Python value types, so pandas
  infers the same dtypes for the merged frame as for each request alone (an int column merged with a
  float column would become float and pass a schema check the int column alone fails);
- small requests only (a large one gains nothing from company) and at most `max_rows` rows per merge.
Whether the output can be split back (one output row per input row) is checked after the predict; if it
cannot, or the merged predict fails, the caller predicts the requests one by one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import chain
from typing import Any

from mlplatform.modules.serving.workers.protocol import FrameRequest, Request

BATCHABLE_ROWS = 256
"""A request with more rows than this is predicted on its own."""


def rows(request: FrameRequest) -> int:
    return len(next(iter(request.columns.values()), ()))


def batch_key(request: Request) -> Hashable | None:
    """Requests with equal keys may be merged; None: this one is predicted alone."""
    if not isinstance(request, FrameRequest) or request.params is not None or not request.columns:
        return None
    if rows(request) > BATCHABLE_ROWS:
        return None
    return tuple((name, frozenset(map(type, values))) for name, values in request.columns.items())


def plan(requests: Sequence[Request], max_rows: int) -> list[list[Request]]:
    """The queued requests as units of work, in arrival order of each unit's first request: a unit of one
    is predicted alone, a longer one (frame requests only) as one merged frame."""
    units: list[list[Request]] = []
    open_units: dict[Hashable, tuple[list[Request], int]] = {}
    for request in requests:
        key = batch_key(request)
        if key is None:
            units.append([request])
            continue
        assert isinstance(request, FrameRequest)
        size = rows(request)
        current = open_units.get(key)
        if current is not None and current[1] + size <= max_rows:
            current[0].append(request)
            open_units[key] = (current[0], current[1] + size)
            continue
        unit: list[Request] = [request]
        units.append(unit)
        open_units[key] = (unit, size)
    return units


def merged_columns(unit: Sequence[FrameRequest]) -> dict[str, list[Any]]:
    """The unit's columns, each request's rows after the previous one's."""
    names = list(unit[0].columns)
    return {name: list(chain.from_iterable(request.columns[name] for request in unit)) for name in names}
