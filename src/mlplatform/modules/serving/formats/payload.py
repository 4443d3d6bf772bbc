"""The neutral form of a prediction request, whatever wire format it came in.

Values stay JSON-native (lists, str, int, float, bool, None): the model worker casts them to the model
signature's types once, after features are joined, so parsing does no per-value conversion.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mlplatform.kernel.errors import Invalid, PayloadTooLarge


class FrameInput(msgspec.Struct, frozen=True):
    """Named columns, row-aligned: `columns[name][i]` is row i's value (the model's DataFrame)."""

    columns: dict[str, list[Any]]
    rows: int


class TensorInput(msgspec.Struct, frozen=True):
    """What is not a frame: nested lists (one tensor, `rows` = its first dimension), a dict of name ->
    nested lists (several tensors), a list of objects or a scalar, as MLflow's `instances`/`inputs` carry
    them. `as_frame` turns the frame-like shapes into columns once the model's signature is known."""

    data: Any
    rows: int


ModelInput = FrameInput | TensorInput


class PredictRequest(msgspec.Struct, frozen=True):
    """One prediction request: model input, entity keys to join online features by, or both (row-aligned)."""

    input: ModelInput | None
    entities: dict[str, list[Any]] | None
    """Join key -> values, columnar as Feast's online request: row i is `{key: values[i] for each key}`."""
    params: dict[str, Any] | None

    @property
    def rows(self) -> int:
        if self.entities:
            return len(next(iter(self.entities.values())))
        return self.input.rows if self.input is not None else 0


def invalid(field: str, message: str) -> Invalid:
    """A 422 naming the body field: `field: message`, with `field` as the problem's extension member."""
    return Invalid(f"{field}: {message}", field=field)


def check_rows(field: str, rows: int, max_rows: int) -> None:
    if rows == 0:
        raise invalid(field, "no rows")
    if rows > max_rows:
        raise PayloadTooLarge(f"{field}: {rows} rows, the limit is {max_rows} per request", field=field)


def validation_field(message: str) -> tuple[str, str]:
    """Split a msgspec validation message (`Expected X, got Y - at `$.a[0].b``) into (field, message) in the
    platform's spelling (`a[0].b`, `expected X, got Y`)."""
    text, _, path = message.partition(" - at `$")
    field = path.rstrip("`").lstrip(".") or "body"
    return field, text[:1].lower() + text[1:]
