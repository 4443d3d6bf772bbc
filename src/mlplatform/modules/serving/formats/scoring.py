"""Request bodies of MLflow's scoring server (`mlflow models serve`, `POST /invocations`, JSON), so that a
client of MLflow's server switches to the platform by changing the URL.

As MLflow 3 reads them (`mlflow.pyfunc.scoring_server`, `mlflow.utils.proto_json_utils`): exactly one of
`dataframe_split` (`{columns, data, index?}`), `dataframe_records` (a list of objects), `instances` or
`inputs`, and optionally `params`. Where MLflow would let a malformed body through to pandas or to the
model (and fail there with a message about neither the body nor the field), this parser refuses it with a
422 naming the field:
- unknown top-level fields (MLflow ignores them; its unified LLM format, `messages`/`prompt`, is not served);
- a `dataframe_split` row without exactly one value per column (pandas pads ragged rows with NaN);
- a `dataframe_records` item that is not an object, an `instances` list mixing objects and other values;
- an input without rows (pandas makes an empty frame; the model then fails).
A `dataframe_split` without `columns`, or with column names that are not strings (a frame built from a
numpy array, `pd.DataFrame(X)`, has 0, 1, ...), is a `TensorInput` of its rows: positional, which is what a
frame with columns 0..n-1 is to a model. `index` is checked (one label per row) and dropped: models do not
see it.

The platform's extension, `entities` (join key -> values, columnar as Feast's online request), comes with
or without one of the inputs above. When both come, the input has as many rows as the entities, or exactly
one row, which is repeated for every entity row (request-time values shared by the batch, such as the
current hour); any other count is refused. Parsing decodes with msgspec straight from bytes and does no
per-value work beyond regrouping rows into columns; only a body with `NaN` or `Infinity` in it (not JSON,
but what MLflow's client sends for a missing value, and what MLflow's server reads) takes a slower path
through Python's json module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from mlplatform.kernel.errors import BadRequest, Invalid, PlatformError
from mlplatform.modules.serving.formats.payload import (
    FrameInput,
    ModelInput,
    PredictRequest,
    TensorInput,
    check_rows,
    invalid,
    validation_field,
)

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_FIELDS = (*FORMATS, "params", "entities")
_EXPECTED = (
    "a body holds one of dataframe_split, dataframe_records, instances and inputs, or entities, or both; "
    "and optionally params"
)


NON_EMPTY = Meta(extra_json_schema={"minItems": 1})
"""Documents what the parser refuses with its own message (`no rows`): in the JSON schema only, so the decoder
does not refuse it first with msgspec's."""
SOME_KEYS = Meta(extra_json_schema={"minProperties": 1})
TENSOR = Meta(
    extra_json_schema={
        "anyOf": [
            {"type": "array", "minItems": 1},
            {"type": "object", "minProperties": 1},
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
        ]
    }
)
"""A tensor input: rows (a non-empty array), named tensors (a non-empty object) or one value; never null."""


class DataframeSplit(msgspec.Struct, forbid_unknown_fields=True):
    """A pandas frame in `orient="split"` form."""

    data: Annotated[list[Any], NON_EMPTY]
    """Rows: one list of values per row, one value per column."""
    columns: list[Any] | None = None
    """Column names, in the order of each row's values."""
    index: list[Any] | None = None
    """Row labels (checked, then dropped: models do not see them)."""


class PredictBody(msgspec.Struct, forbid_unknown_fields=True):
    """MLflow's scoring-server body (exactly one of `dataframe_split`, `dataframe_records`, `instances`,
    `inputs`), the platform's `entities`, or both; `params` as MLflow passes them to `predict`."""

    dataframe_split: DataframeSplit | UnsetType = UNSET
    dataframe_records: Annotated[list[dict[str, Any]], NON_EMPTY] | UnsetType = UNSET
    """Rows as objects: column name -> value."""
    instances: Annotated[Any, TENSOR] = UNSET
    """Tensor input (TF-serving style): nested lists, or objects of named tensors."""
    inputs: Annotated[Any, TENSOR] = UNSET
    """Tensor input (TF-serving columnar style): nested lists, or an object of named tensors."""
    params: dict[str, Any] | None = None
    """Inference parameters the model's signature declares."""
    entities: Annotated[dict[str, Annotated[list[int | str], NON_EMPTY]], SOME_KEYS] | None = None
    """Join key -> values, columnar (row i is each key's i-th value): the deployment's online features for
    these entities are joined into the model's input."""


_decoder = msgspec.json.Decoder(PredictBody)


def parse_scoring_request(body: bytes, *, max_rows: int) -> PredictRequest:
    """The request in `body`; `Invalid` (422) naming the field, `PayloadTooLarge` (413) past `max_rows` rows,
    `BadRequest` (400) when the body is not JSON."""
    try:
        parsed = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _refusal(body, str(exc)) from None
    except msgspec.DecodeError as exc:
        parsed = _with_non_finite_numbers(body, exc)
    model_input: ModelInput | None = None
    field = ""
    if parsed.dataframe_split is not UNSET:
        field, model_input = "dataframe_split", _split(parsed.dataframe_split, max_rows)
    if parsed.dataframe_records is not UNSET:
        field, model_input = _one(field, "dataframe_records"), _records(parsed.dataframe_records, max_rows)
    if parsed.instances is not UNSET:
        field, model_input = _one(field, "instances"), _tensor("instances", parsed.instances, max_rows)
    if parsed.inputs is not UNSET:
        field, model_input = _one(field, "inputs"), _tensor("inputs", parsed.inputs, max_rows)
    entities = parsed.entities
    if entities is not None:
        rows = _entity_rows(entities)
        check_rows("entities", rows, max_rows)
        if model_input is not None and model_input.rows != rows:
            model_input = _broadcast(field, model_input, rows)
    elif model_input is None:
        raise Invalid(f"no input: {_EXPECTED}", field="body")
    return PredictRequest(model_input, entities, parsed.params)


def as_frame(model_input: ModelInput, columns: Sequence[str] | None = None) -> FrameInput | None:
    """`model_input` as named columns if it has that shape, for a model with a column signature (`columns`,
    in signature order); None when it is a tensor. As MLflow does for such a model: a list of objects (a key
    missing from one is NaN, as pandas makes it), an object of equal-length lists, an object of scalars
    (one row), and a plain list when the signature has exactly one column."""
    if isinstance(model_input, FrameInput):
        return model_input
    data, rows = model_input.data, model_input.rows
    if isinstance(data, list):
        if data and isinstance(data[0], dict):
            return _from_records(data)
        if columns is not None and len(columns) == 1:
            return FrameInput({columns[0]: data}, rows)
        return None
    if isinstance(data, dict) and data:
        values = list(data.values())
        if not any(isinstance(value, list) for value in values):
            return FrameInput({name: [value] for name, value in data.items()}, 1)
        if all(isinstance(value, list) and len(value) == rows for value in values):
            return FrameInput(data, rows)
    return None


def _one(field: str, other: str) -> str:
    if field:
        raise invalid(other, f"give one input format, not two ({field} is given too)")
    return other


def _split(split: DataframeSplit, max_rows: int) -> ModelInput:
    data, names = split.data, split.columns
    rows = len(data)
    check_rows("dataframe_split.data", rows, max_rows)
    if split.index is not None and len(split.index) != rows:
        raise invalid("dataframe_split.index", f"{len(split.index)} labels, data has {rows} rows")
    if names is None or set(map(type, names)) != {str}:
        return TensorInput(_matrix(data, None if names is None else len(names)), rows)
    width = len(names)
    if all(type(row) is list and len(row) == width for row in data):
        if rows == 1:  # the common online case: a third faster than the general transposition
            columns = {name: [value] for name, value in zip(names, data[0], strict=False)}
        else:
            columns = dict(zip(names, map(list, zip(*data, strict=False)), strict=False))
        if len(columns) != width:
            duplicate = next(name for i, name in enumerate(names) if name in names[:i])
            raise invalid("dataframe_split.columns", f"`{duplicate}` appears twice")
        return FrameInput(columns, rows)
    if width == 1 and not any(type(row) is list for row in data):
        return FrameInput({names[0]: data}, rows)  # pandas reads a list of scalars as one column
    raise _bad_row(data, width, "columns has")


def _matrix(data: list[Any], width: int | None) -> list[Any]:
    """`data` if its rows are arrays of one length (`width` when columns are given) or, unless more than one
    column is given, all scalars."""
    if not any(type(row) is list for row in data):
        for i, row in enumerate(data):
            if type(row) is dict:  # a frame's row is an array; objects as rows are `dataframe_records`
                raise invalid(f"dataframe_split.data[{i}]", "expected an array (a row) or a value, got object")
        if width is None or width == 1:
            return data
        raise _bad_row(data, width, "columns has")
    expected = len(data[0]) if width is None else width
    if all(type(row) is list and len(row) == expected for row in data):
        return data
    raise _bad_row(data, expected, "row 0 has" if width is None else "columns has")


def _bad_row(data: list[Any], width: int, width_of: str) -> Invalid:
    """The refusal of the first row of `data` that is not an array of `width` values."""
    for i, row in enumerate(data):
        if type(row) is not list:
            return invalid(f"dataframe_split.data[{i}]", f"expected an array (a row), got {_json_type(row)}")
        if len(row) != width:
            return invalid("dataframe_split.data", f"row {i} has {len(row)} values, {width_of} {width}")
    raise ValueError("every row is an array of the width")


def _records(records: list[dict[str, Any]], max_rows: int) -> FrameInput:
    check_rows("dataframe_records", len(records), max_rows)
    frame = _from_records(records)
    if not frame.columns:
        raise invalid("dataframe_records", "no columns: every record is empty")
    return frame


def _from_records(records: list[Any]) -> FrameInput:
    if len(records) == 1:
        return FrameInput({name: [value] for name, value in records[0].items()}, 1)
    names = tuple(records[0])
    if all(type(record) is dict and tuple(record) == names for record in records):
        values = zip(*(record.values() for record in records), strict=False)
        return FrameInput(dict(zip(names, map(list, values), strict=False)), len(records))
    union: dict[str, None] = {}
    for record in records:
        union.update(dict.fromkeys(record))
    missing = math.nan  # what pandas puts where a record lacks a key (an explicit null stays None)
    columns = {name: [record.get(name, missing) for record in records] for name in union}
    return FrameInput(columns, len(records))


def _tensor(field: str, data: Any, max_rows: int) -> TensorInput:
    if data is None:
        raise invalid(field, "null: expected an array, an object or a value")
    rows = 1
    if isinstance(data, list):
        rows = len(data)
        check_rows(field, rows, max_rows)
        if isinstance(data[0], dict):
            for i, item in enumerate(data):
                if type(item) is not dict:
                    raise invalid(f"{field}[{i}]", f"expected an object like {field}[0], got {_json_type(item)}")
    elif isinstance(data, dict):
        if not data:
            raise invalid(field, "an empty object")
        lengths = {name: len(value) for name, value in data.items() if isinstance(value, list)}
        if lengths:
            rows = max(lengths.values())
            if field == "instances" and len(set(lengths.values())) > 1:
                first = next(iter(lengths))
                other = next(name for name, length in lengths.items() if length != lengths[first])
                raise invalid(f"{field}.{other}", f"{lengths[other]} values, {field}.{first} has {lengths[first]}")
            check_rows(field, rows, max_rows)
    return TensorInput(data, rows)


def _entity_rows(entities: dict[str, list[Any]]) -> int:
    if not entities:
        raise invalid("entities", "no join keys")
    (first, values), *others = entities.items()
    for name, other in others:
        if len(other) != len(values):
            raise invalid(f"entities.{name}", f"{len(other)} values, entities.{first} has {len(values)}")
    return len(values)


def _broadcast(field: str, model_input: ModelInput, rows: int) -> ModelInput:
    """A one-row input repeated for each of `rows` entity rows (lists repeated share their items: read-only)."""
    if model_input.rows == 1:
        if isinstance(model_input, FrameInput):
            return FrameInput({name: values * rows for name, values in model_input.columns.items()}, rows)
        data = model_input.data
        if isinstance(data, list):
            return TensorInput(data * rows, rows)
        if isinstance(data, dict):
            return TensorInput({k: (v if isinstance(v, list) else [v]) * rows for k, v in data.items()}, rows)
    raise invalid(
        field, f"{model_input.rows} rows, entities has {rows}: give one row per entity row, or one row for all"
    )


def _with_non_finite_numbers(body: bytes, error: msgspec.DecodeError) -> PredictBody:
    """The body when it is JSON but for `NaN` and `Infinity`, which MLflow's client writes for missing values
    (Python's `json.dumps`) and MLflow's server reads: a slow path only such bodies take."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest(f"the body is not JSON: {error}", field="body") from None
    try:
        return msgspec.convert(document, PredictBody, strict=True)
    except msgspec.ValidationError as exc:
        raise _refusal(body, str(exc), document) from None


def _refusal(body: bytes, message: str, document: Any = None) -> PlatformError:
    """The 422 for a msgspec validation failure, naming every unknown top-level field and the join key of a
    bad entity value (msgspec names neither)."""
    field, text = validation_field(message)
    if document is None:
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return invalid(field, text)
    if field == "body" and text.startswith("object contains unknown field") and isinstance(document, dict):
        unknown = [name for name in document if name not in _FIELDS]
        names = ", ".join(f"`{name}`" for name in unknown)
        return Invalid(f"unknown field{'s' * (len(unknown) > 1)} {names}: {_EXPECTED}", field=unknown[0])
    if field.startswith("entities[...]"):
        for name, values in document["entities"].items():
            try:
                msgspec.convert(values, list[int | str], strict=True)
            except msgspec.ValidationError as exc:
                where, text = validation_field(str(exc))
                return invalid(f"entities.{name}{where.removeprefix('body')}", text)
    return invalid(field, text)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
