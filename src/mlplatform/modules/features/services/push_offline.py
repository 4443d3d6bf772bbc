"""Pushed rows shaped like the push source's offline data: its column names and, for parquet, its types.

Every part file of a source must read as one dataset: a part whose `driver_id` is text next to parts where
it is an integer breaks every later read (materialization, training sets). Rows are renamed through the
batch source's field mapping (views name features, the data names columns) and cast to the types the
data already has; an empty source takes the views' types. Mismatches are a 422 naming the column.

Blocking (pyarrow): runs in a worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlplatform.kernel.errors import Invalid

if TYPE_CHECKING:
    import pyarrow as pa

    from mlplatform.modules.features.adapters.offline_append import OfflineShape


def offline_table(table: pa.Table, batch_source: Any, shape: OfflineShape) -> pa.Table:
    reverse = {feature: column for column, feature in (batch_source.field_mapping or {}).items()}
    table = table.rename_columns([reverse.get(name, name) for name in table.column_names])
    if shape.names is None:
        return table
    where = f"the offline data of {batch_source.name!r}"
    unknown = [name for name in table.column_names if name not in shape.names]
    if unknown:
        raise Invalid(
            f"rows: {where} has no column(s) {', '.join(unknown)}: push them online only, or redefine the source",
            field="rows",
            extra=unknown,
        )
    if shape.schema is None:  # a table: columns it does not get are its defaults / nulls
        return table
    missing = [name for name in shape.names if name not in table.column_names]
    if missing:
        raise Invalid(f"rows: missing column(s) {', '.join(missing)} ({where} has them)", field="rows", missing=missing)
    return _cast_to(table.select(list(shape.names)), shape.schema.remove_metadata(), where)


def _cast_to(table: pa.Table, schema: pa.Schema, where: str) -> pa.Table:
    import pyarrow as pa

    columns = []
    for name in schema.names:
        target = schema.field(name).type
        values = table.column(name)
        if pa.types.is_timestamp(target) and pa.types.is_timestamp(values.type):
            # Same instants, in the unit and zone the data uses (naive data is UTC here).
            values = values.cast(pa.timestamp(target.unit, tz=values.type.tz))
            columns.append(pa.chunked_array([c.view(target) for c in values.chunks], type=target))
            continue
        try:
            columns.append(values.cast(target, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise Invalid(
                f"column {name!r} must fit {where}, which holds {target}: {exc}", field=name, column=name
            ) from None
    return pa.table(columns, schema=schema)
