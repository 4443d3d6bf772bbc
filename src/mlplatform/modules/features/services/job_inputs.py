"""Checking and normalizing the inputs of training-set and materialization jobs (shared by the request
side and the job functions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.kernel.storage.project_paths import in_project

if TYPE_CHECKING:
    import pandas as pd


def requested(store: Any, feature_service: str | None, features: list[str]) -> tuple[list[str], set[str]]:
    """(`view:feature` refs, join keys the entity rows need), with 422s naming the bad reference."""
    from mlplatform.modules.features.adapters import registry as r

    if feature_service:
        try:
            service = r.get_service(store, feature_service)
        except NotFound:
            raise Invalid(
                f"feature_service: no feature service named {feature_service!r}", field="feature_service"
            ) from None
        refs = r.service_out(service).features
    else:
        refs = list(features)
    join_keys: set[str] = set()
    for position, ref in enumerate(refs):
        view_name, sep, feature = ref.partition(":")
        try:
            view = r.get_view(store, view_name)
        except NotFound:
            raise Invalid(
                f"features[{position}]: no feature view named {view_name!r}", field=f"features[{position}]"
            ) from None
        if not sep or feature not in {f.name for f in view.features}:
            raise Invalid(f"features[{position}]: unknown feature {ref!r}", field=f"features[{position}]")
        join_keys.update(c.name for c in view.entity_columns)
    return refs, join_keys


def entity_frame(frame: pd.DataFrame, join_keys: set[str]) -> pd.DataFrame:
    import pandas as pd

    if frame.empty:
        raise Invalid("entity_rows: no entity rows", field="entity_rows")
    missing = sorted(join_keys - set(frame.columns))
    if missing:
        raise Invalid(f"entity_rows: missing join key column(s) {', '.join(missing)}", field="entity_rows")
    if "event_timestamp" not in frame.columns:
        raise Invalid("entity_rows: every row needs an event_timestamp", field="entity_rows")
    try:
        frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise Invalid(f"entity_rows: event_timestamp must be ISO 8601 ({exc})", field="entity_rows") from None
    if frame["event_timestamp"].isna().any():
        raise Invalid("entity_rows: event_timestamp must not be null", field="entity_rows")
    return frame


def entity_rows_key(project: str, upload: uuid.UUID) -> str:
    """Where inline entity rows of a training set request are kept (the platform's area, not the project's)."""
    return f"{entity_rows_prefix(project)}{upload}.parquet"


def entity_rows_prefix(project: str) -> str:
    return f"features/{project}/entity-rows/"


def check_entity_key(project: str, key: object) -> str:
    """A training set job's entity rows: a key in the project's folder (`entity_path`) or the inline rows the
    platform stored for it. Checked again when the job runs, so a job recorded before the rules (or with
    altered parameters) reads nothing outside the project."""
    if isinstance(key, str) and (in_project(project, key) or _is_entity_rows_key(project, key)):
        return key
    raise Invalid(f"entity_path: {key!r} is outside project {project!r}'s folder", field="entity_path")


def _is_entity_rows_key(project: str, key: str) -> bool:
    name = key.removeprefix(entity_rows_prefix(project))
    if name == key or not name.endswith(".parquet"):
        return False
    try:
        uuid.UUID(name.removesuffix(".parquet"))
    except ValueError:
        return False
    return True


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
