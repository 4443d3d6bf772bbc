"""What a push must look like, from the feature views its push source feeds: which columns, of which types.

A pushed batch is turned into one Arrow table typed by the views' schema before anything is written, so a
wrong value (`driver_id: "notint"`) is a 422 naming the column instead of a part file that breaks every
later read of the source. Columns nobody declared are refused too (422 naming them).

Blocking (Feast objects, pandas, pyarrow): runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlplatform.kernel.errors import Invalid

if TYPE_CHECKING:
    import pyarrow as pa

TIMESTAMP = "timestamp"
"""The dtype of the event-time (and created-time) columns."""

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int32": (int,),
    "int64": (int,),
    "float32": (int, float),
    "float64": (int, float),
    "string": (str,),
    "bytes": (bytes, str),
    "bool": (bool,),
    "unix_timestamp": (str,),
}
"""JSON values each declared type accepts (`bool` is an `int` in Python: checked by exact type)."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    """A feature dtype (`int64`, `array<float64>` ...) or `timestamp`."""
    required: bool = True
    nullable: bool = True


@dataclass
class PushSchema:
    columns: dict[str, Column] = field(default_factory=dict)

    def add(self, column: Column) -> None:
        known = self.columns.get(column.name)
        if known is None:
            self.columns[column.name] = column
        elif known.dtype != column.dtype:
            raise Invalid(
                f"push source: views fed by it declare {column.name!r} as {known.dtype} and as {column.dtype}",
                field="push_source",
            )
        elif not column.nullable and known.nullable:
            self.columns[column.name] = column

    def check_names(self, names: Sequence[str], where: str) -> None:
        missing = [c.name for c in self.columns.values() if c.required and c.name not in names]
        if missing:
            raise Invalid(f"{where}: missing column(s) {', '.join(missing)}", field=where, missing=missing)
        extra = [n for n in names if n not in self.columns]
        if extra:
            raise Invalid(
                f"{where}: unknown column(s) {', '.join(extra)}: no view fed by this push source has them",
                field=where,
                extra=extra,
            )

    def from_json(self, columns: Mapping[str, Sequence[Any]], where: str) -> pa.Table:
        """JSON values (column -> values) as a table of the declared types; wrong JSON types are a 422."""
        import pyarrow as pa

        self.check_names(list(columns), where)
        arrays = {}
        for name, values in columns.items():
            column = self.columns[name]
            arrays[name] = self._json_array(column, values)
            _check_nulls(column, arrays[name])
        return pa.table(arrays)

    def from_arrow(self, table: pa.Table, where: str) -> pa.Table:
        """An uploaded table cast to the declared types (lossless casts only)."""
        import pyarrow as pa

        self.check_names(table.column_names, where)
        arrays = {}
        for name in table.column_names:
            column = self.columns[name]
            arrays[name] = _cast(column, table.column(name))
            _check_nulls(column, arrays[name])
        return pa.table(arrays)

    def _json_array(self, column: Column, values: Sequence[Any]) -> pa.Array:
        import pyarrow as pa

        if column.dtype in (TIMESTAMP, "unix_timestamp"):
            return _timestamps(column, values)
        if column.dtype.startswith("array<"):
            inner = column.dtype[6:-1]
            _first_wrong(column, values, lambda v: isinstance(v, list) and _wrong_index(v, _JSON_TYPES[inner]) is None)
        else:
            allowed = _JSON_TYPES[column.dtype]
            position = _wrong_index(values, allowed)
            if position is not None:
                _refuse(column, position, values[position])
        try:
            return pa.array(values, type=arrow_type(column.dtype))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise Invalid(
                f"column {column.name!r} must hold {column.dtype} values: {exc}", field=column.name, column=column.name
            ) from None


def arrow_type(dtype: str) -> pa.DataType:
    import pyarrow as pa

    if dtype.startswith("array<"):
        return pa.list_(arrow_type(dtype[6:-1]))
    return {
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float32": pa.float32(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bytes": pa.binary(),
        "bool": pa.bool_(),
        "unix_timestamp": pa.timestamp("us", tz="UTC"),
        TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }[dtype]


def _wrong_index(values: Sequence[Any], allowed: tuple[type, ...]) -> int | None:
    for position, value in enumerate(values):
        if value is not None and type(value) not in allowed:
            return position
    return None


def _first_wrong(column: Column, values: Sequence[Any], fits: Callable[[Any], bool]) -> None:
    for position, value in enumerate(values):
        if value is not None and not fits(value):
            _refuse(column, position, value)


def _refuse(column: Column, position: int, value: Any) -> None:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise Invalid(
        f"column {column.name!r} must hold {column.dtype} values: row {position} has {shown} ({type(value).__name__})",
        field=column.name,
        column=column.name,
        row=position,
    )


def _check_nulls(column: Column, array: pa.Array | pa.ChunkedArray) -> None:
    if not column.nullable and array.null_count:
        raise Invalid(
            f"column {column.name!r} must have a value in every row ({array.null_count} null)",
            field=column.name,
            column=column.name,
        )


def _timestamps(column: Column, values: Sequence[Any]) -> pa.Array:
    import pandas as pd
    import pyarrow as pa

    try:
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        raise Invalid(
            f"column {column.name!r} must hold ISO 8601 timestamps ({exc})", field=column.name, column=column.name
        ) from None
    return pa.Array.from_pandas(stamps).cast(arrow_type(TIMESTAMP))


def _cast(column: Column, values: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa

    actual = values.type
    if pa.types.is_dictionary(actual):
        values = values.cast(actual.value_type)
        actual = values.type
    target = arrow_type(column.dtype)
    if column.dtype in (TIMESTAMP, "unix_timestamp") and (
        pa.types.is_string(actual) or pa.types.is_large_string(actual)
    ):
        return pa.chunked_array([_timestamps(column, values.to_pylist())])
    if not _castable(actual, target):
        raise Invalid(
            f"column {column.name!r} is {actual}: the views declare {column.dtype}",
            field=column.name,
            column=column.name,
        )
    if pa.types.is_timestamp(actual) and actual.tz is None:
        values = values.cast(pa.timestamp(actual.unit, tz="UTC"))
    try:
        return values.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Invalid(
            f"column {column.name!r} must hold {column.dtype} values: {exc}", field=column.name, column=column.name
        ) from None


def _castable(actual: pa.DataType, target: pa.DataType) -> bool:
    import pyarrow as pa

    t = pa.types
    if t.is_list(target):
        return (t.is_list(actual) or t.is_large_list(actual)) and _castable(actual.value_type, target.value_type)
    if t.is_integer(target):
        return t.is_integer(actual)
    if t.is_floating(target):
        return t.is_floating(actual) or t.is_integer(actual)
    if t.is_string(target):
        return t.is_string(actual) or t.is_large_string(actual)
    if t.is_binary(target):
        return t.is_binary(actual) or t.is_large_binary(actual) or t.is_string(actual)
    if t.is_boolean(target):
        return t.is_boolean(actual)
    if t.is_timestamp(target):
        return t.is_timestamp(actual) or t.is_date(actual)
    return False
