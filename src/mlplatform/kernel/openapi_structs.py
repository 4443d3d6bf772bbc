"""OpenAPI schemas of msgspec structs that state what decoding enforces.

Litestar's own struct plugin loses two things msgspec checks while decoding a request body:

- unknown fields: a struct declared with `forbid_unknown_fields=True` refuses any field it does not name
  (422), yet Litestar documents it as an open object. Here it gets `additionalProperties: false`.
- constraints inside containers and optional types: `list[Annotated[str, Meta(pattern=...)]]`, `dict[Key, Value]` with
  constrained keys or values, `Meta(max_length=...)` on a dict. Litestar drops the inner `Meta`; here a
  field whose type holds no struct is documented with msgspec's own JSON Schema of that type (items,
  `propertyNames`, `additionalProperties`, `maxProperties` ...), so the document carries the very rules
  the decoder applies.

The plugin is registered ahead of Litestar's, so it documents every struct of the API.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIType, Schema

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

_CONTAINERS = (msgspec.inspect.ListType, msgspec.inspect.DictType, msgspec.inspect.SetType)
_KEEP = ("description", "default", "title", "examples")
"""What Litestar already wrote on a property and msgspec's schema of the bare type does not carry."""
_FIELD_BY_ALIAS = {f.metadata.get("alias", f.name): f.name for f in dataclasses.fields(Schema)}
_ARM_CONSTRAINTS = frozenset(
    {"pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
"""JSON Schema keywords constraining a value, repeated inside an optional field's non-null arm."""
_NESTED = frozenset({"items", "additional_properties", "property_names"})
_NESTED_LISTS = frozenset({"any_of", "one_of", "all_of"})


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        if getattr(struct, "__struct_config__", None) is None:
            return schema
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        # The annotation, not the bare class: a generic struct's fields (`Page[Model].items`) then have
        # their type arguments in place of the type variables (`list[Model]`, not `list[T]`).
        for field in msgspec.structs.fields(field_definition.annotation):
            current = (schema.properties or {}).get(field.encode_name)
            exact = _container_schema(field.type)
            if isinstance(current, Schema) and exact is not None:
                for name in _KEEP:
                    if getattr(exact, name) is None:
                        setattr(exact, name, getattr(current, name))
                schema.properties[field.encode_name] = exact  # type: ignore[index]
            elif isinstance(current, Schema):
                _constrain_arms(current, field.type)
        return schema


def _constrain_arms(schema: Schema, annotation: Any) -> None:
    """Write the constraints of an optional field's value inside its non-null arm, where generators and
    client builders look for them, and next to `oneOf` too (Litestar's place, which drops a bound of 0)."""
    if not schema.one_of:
        return
    try:
        (generated,), components = msgspec.json.schema_components([annotation])
    except (TypeError, ValueError):
        return
    arms = [arm for arm in generated.get("anyOf", ()) if arm.get("type") != "null"]
    if components or len(arms) != 1:
        return
    constraints = {_FIELD_BY_ALIAS[k]: v for k, v in arms[0].items() if k in _ARM_CONSTRAINTS}
    for name, value in constraints.items():
        setattr(schema, name, value)
    # Copies: Litestar may share one arm object (`{"type": "string"}`) between fields.
    schema.one_of = [
        dataclasses.replace(arm, **constraints)
        if isinstance(arm, Schema) and arm.type not in (None, OpenAPIType.NULL)
        else arm
        for arm in schema.one_of
    ]


def _container_schema(annotation: Any) -> Schema | None:
    """msgspec's schema of a container type (or optional container) that holds no struct, else None."""
    kind = msgspec.inspect.type_info(annotation)
    core = kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind
    arms = core.types if isinstance(core, msgspec.inspect.UnionType) else (core,)
    if not any(isinstance(arm, _CONTAINERS) or _bounded_number(arm) for arm in arms):
        return None
    (generated,), components = msgspec.json.schema_components([annotation])
    return None if components else to_schema(generated)


def _bounded_number(kind: msgspec.inspect.Type) -> bool:
    """An int or float bounded at 0, which Litestar drops from an optional number (`ge=0` on `int | None`
    was documented without its minimum: it tests the bound's truth, not its presence)."""
    bounds = ("ge", "gt", "le", "lt")
    numbers = (msgspec.inspect.IntType, msgspec.inspect.FloatType)
    return isinstance(kind, numbers) and any(getattr(kind, bound) == 0 for bound in bounds)


def to_schema(document: dict[str, Any]) -> Schema:
    """A JSON Schema object (msgspec's output) as Litestar's `Schema`."""
    values: dict[str, Any] = {}
    for key, value in document.items():
        name = _FIELD_BY_ALIAS[key]
        if name in _NESTED and isinstance(value, dict):
            value = to_schema(value)
        elif name in _NESTED_LISTS:
            value = [to_schema(item) for item in value]
        elif name == "properties":
            value = {key: to_schema(item) for key, item in value.items()}
        values[name] = value
    if values.get("type") == "array" and "items" not in values:
        values["items"] = Schema()  # `list[Any]`: the same "any item" as msgspec's missing `items`, said aloud
    return Schema(**values)
