"""Constraints declared once, checked by the server and published in the OpenAPI document alike.

A rule on a value is written once, as `msgspec.Meta` on an `Annotated` type. msgspec checks it wherever it
decodes that type (a body field, a path or query parameter: a 422 problem naming the field), and the
document publishes it. Two gaps between what is checked and what is published are closed here:

- `whole`: Python's `$` (msgspec matches patterns with `re.search`) also matches just before a final
  newline, the document's ECMA-262 `$` never does; `^[a-z]+$` let `"demo\\n"` through on the server while
  every client refuses it. A pattern built with `whole` reads alike in both.
- `parameter_of`: Litestar documents a body field's `Meta` but not a path or query parameter's; it reads
  constraints there from its own `Parameter`. `parameter_of(T)` is the `Parameter` carrying `T`'s `Meta`,
  so `Annotated[T, parameter_of(T)]` documents the parameter with the constraints msgspec checks.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec
from litestar.params import Parameter, ParameterKwarg

_CONSTRAINTS = ("pattern", "min_length", "max_length", "ge", "gt", "le", "lt", "multiple_of", "description", "title")


def whole(pattern: str) -> str:
    """`pattern` matching the entire text, in Python and ECMA-262 alike (no final newline slips past `$`)."""
    return rf"^(?:{pattern})(?!\n)$"


def parameter_of(annotated: Any, **extra: Any) -> ParameterKwarg:
    """A Litestar `Parameter` documenting the `msgspec.Meta` constraints of `annotated` (`Annotated[T, Meta]`);
    `extra` adds `Parameter` arguments of its own (`query=`, `description=`)."""
    metas = [item for item in get_args(annotated)[1:] if isinstance(item, msgspec.Meta)]
    if not metas:
        raise TypeError(f"{annotated!r} carries no msgspec.Meta to document")
    constraints = {name: value for meta in metas for name in _CONSTRAINTS if (value := getattr(meta, name)) is not None}
    return Parameter(**{**constraints, **extra})


__all__ = ["parameter_of", "whole"]
