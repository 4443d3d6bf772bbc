"""A model's raw output as plain data (child side), the way MLflow's scoring server answers.

`mlflow.pyfunc.scoring_server.predictions_to_json` turns a numpy array into a list, a DataFrame into
records, a Series into the records of a one-column DataFrame, and leaves anything else to its JSON
encoder (numpy scalars → Python scalars, bytes → base64, dates → ISO text). The same here, except that the
result is plain Python data, so it travels as msgpack and the platform encodes it as it likes; dict keys
become strings as JSON would make them.

`split_rows` cuts a row-aligned output of a micro-batch back into each request's part.
"""

from __future__ import annotations

import base64
import datetime
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

_PLAIN_KINDS = frozenset("biuf")
"""numpy dtype kinds whose `tolist()` is already plain Python scalars."""


def jsonable(raw: Any) -> Any:
    if isinstance(raw, pd.DataFrame):
        return _plain(raw.to_dict(orient="records"))
    if isinstance(raw, pd.Series):
        return _plain(pd.DataFrame(raw).to_dict(orient="records"))
    return _plain(raw)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _PLAIN_KINDS:
            return value.tolist()
        if value.dtype.kind == "M":
            return np.datetime_as_string(value).tolist()
        return [_plain(item) for item in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, dict):
        return {_key(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value))
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, bytes | bytearray):
        return base64.encodebytes(bytes(value)).decode("ascii")
    if isinstance(value, pd.Timestamp | datetime.date | datetime.datetime | datetime.time):
        return value.isoformat()
    if isinstance(value, pd.DataFrame | pd.Series):
        return jsonable(value)
    if hasattr(value, "model_dump"):  # a pydantic model, as MLflow's encoder handles it
        return _plain(value.model_dump())
    if isinstance(value, Sequence):
        return [_plain(item) for item in value]
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return "true" if key is True else "false" if key is False else "null"
    if isinstance(key, float) and not math.isfinite(key):
        return "NaN" if math.isnan(key) else ("Infinity" if key > 0 else "-Infinity")
    return str(_plain(key))


def row_count(raw: Any) -> int | None:
    """How many rows `raw` has when it is a per-row output (array, frame, series, list); else None."""
    if isinstance(raw, np.ndarray):
        return int(raw.shape[0]) if raw.ndim else None
    if isinstance(raw, pd.DataFrame | pd.Series | list):
        return len(raw)
    return None


def split_rows(raw: Any, sizes: Sequence[int]) -> list[Any]:
    """`raw` cut into consecutive parts of `sizes` rows (the caller checked `row_count(raw) == sum(sizes)`)."""
    parts = []
    start = 0
    for size in sizes:
        stop = start + size
        if isinstance(raw, pd.DataFrame | pd.Series):
            parts.append(raw.iloc[start:stop])
        else:
            parts.append(raw[start:stop])
        start = stop
    return parts
