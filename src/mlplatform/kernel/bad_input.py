"""Input no handler can be trusted with, refused once for every route before any handler sees it.

PostgreSQL cannot store NUL in text, asyncpg and SQLite cannot bind integers beyond 64 bits, a JSON
document nested thousands of levels deep exhausts the decoder's recursion, and bytes that are not UTF-8
cannot be decoded at all. Each of these used to surface as a 500 from wherever it first hurt; here they
are refused up front, the same way on every route:

- 400 (`BadRequest`): a body that cannot be read as text or is nested deeper than `MAX_JSON_DEPTH`, or a
  query string that is not UTF-8 once percent-decoded.
- 422 (`Invalid`): a well-formed request carrying a value no route accepts: NUL in any string (body, query,
  path or form field, keys included) or an integer outside the signed 64-bit range.

The checks are built to cost next to nothing on ordinary requests (the online-feature hot path goes
through them): each starts with a byte-level test that is exact in the "nothing to see" direction, and
only a body that fails it is decoded and walked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from mlplatform.kernel.errors import BadRequest, Invalid

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a JSON body may have (no platform schema needs more than a handful)."""
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_NUL_ESCAPE = b"\\u0000"
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_NINETEEN_DIGITS = b"0" * 19
"""int64 has 19 digits at most: a shorter run of digits can never be out of range."""
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_decoder = msgspec.json.Decoder()


def check_json_body(body: bytes, where: str = "body") -> None:
    """Refuse a JSON body that is not UTF-8, too deep, or carries NUL or an out-of-range integer.

    A body that is simply not JSON passes: the route's own decoding answers it (400) as before."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{where}: not valid UTF-8 (byte {exc.start})", field=where) from None
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _json_depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels", field=where)
    if _NUL_ESCAPE not in body and not _has_long_digits(body):
        return
    try:
        document = _decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return
    check_values(document, where)


def check_values(document: Any, where: str) -> None:
    """Walk a decoded document (iteratively: its depth is the caller's to bound) for refused values."""
    stack: list[tuple[str, Any]] = [(where, document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise Invalid(f"{path}: text may not contain NUL (\\u0000) characters", field=_field(path, where))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise Invalid(f"{path}: integer outside the signed 64-bit range", field=_field(path, where))
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise Invalid(f"{path}: a key may not contain NUL (\\u0000) characters", field=_field(path, where))
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))


def _field(path: str, where: str) -> str:
    """The refused value's field as the platform's other 422s name it: `path`, `entities.driver_id[0]`."""
    return path.removeprefix(f"{where}.") if path != where else path


def _has_long_digits(data: bytes) -> bool:
    """Whether `data` has a run of 19 or more digits (a translation and a substring search: an order of
    magnitude faster than a regular expression on large bodies)."""
    return _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZEROS)


def _json_depth(body: bytes) -> int:
    """Deepest bracket nesting outside strings (brackets inside strings don't count).

    All in C but the last step: drop escaped backslashes and escaped quotes (so every quote left opens or
    closes a string), keep only brackets and quotes, keep what lies outside quotes, then sum the steps."""
    structure = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2])
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def check_query_string(query_string: bytes) -> None:
    """Refuse a query string with NUL in a name or value, or not UTF-8 once percent-decoded."""
    if query_string.isascii() and b"%" not in query_string and b"\x00" not in query_string:
        return
    for name, value in _query_pairs(query_string, "query string"):
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "")
            raise Invalid(f"query parameter {field!r}: text may not contain NUL characters", field=field)


def check_form(body: bytes) -> None:
    """Refuse an `application/x-www-form-urlencoded` body with NUL in a field or not UTF-8."""
    for name, value in _query_pairs(body, "form body"):
        if "\x00" in name or "\x00" in value:
            raise Invalid(f"form field {name.replace(chr(0), '')!r}: text may not contain NUL characters")


def check_int_parameters(query_string: bytes, names: Iterable[str]) -> None:
    """Refuse an integer query parameter (`names`: those a route declares as int) beyond 64 bits."""
    wanted = set(names)
    if not wanted or not _has_long_digits(query_string):
        return
    for name, value in _query_pairs(query_string, "query string"):
        if name in wanted and _has_long_digits(value.encode()):
            try:
                number = int(value)
            except ValueError:
                continue  # not a number at all: the route's own validation answers
            if not INT64_MIN <= number <= INT64_MAX:
                raise Invalid(f"query parameter {name!r}: integer outside the signed 64-bit range", field=name)


def check_path(path: str, params: dict[str, Any] | None = None) -> None:
    """Refuse a request path with NUL in it, or a parsed path parameter that is an out-of-range integer."""
    if "\x00" in path:
        raise Invalid("the path may not contain NUL (%00) characters")
    for name, value in (params or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise Invalid(f"path parameter {name!r}: integer outside the signed 64-bit range", field=name)


def _query_pairs(raw: bytes, what: str) -> Iterator[tuple[str, str]]:
    if not raw.isascii():
        raise BadRequest(f"{what}: raw non-ASCII bytes (percent-encode them as UTF-8)")
    try:
        yield from parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"{what}: not valid UTF-8 once percent-decoded") from None


__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "check_form",
    "check_int_parameters",
    "check_json_body",
    "check_path",
    "check_query_string",
    "check_values",
]
