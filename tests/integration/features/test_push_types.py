"""Pushes are typed by the views they feed: wrong types and unknown columns are refused before anything is
written; the first offline push into an empty folder works; `online_and_offline` is both or neither."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlplatform.kernel.storage.project_paths import project_key
from tests.integration.features.data import T0, post_definitions
from tests.integration.features.stack import Stack
from tests.integration.features.test_push_and_validation import base, live_view, online

NOW = datetime.now(UTC).replace(microsecond=0)


def row(**overrides: Any) -> dict[str, Any]:
    return {"driver_id": 1, "trips": 3, "rating": 4.5, "event_timestamp": NOW.isoformat(), **overrides}


def parts(stack: Stack, project: str, folder: str = "drivers") -> list[str]:
    """Part files of a parquet source folder defined by `data.define` (or an `empty` folder)."""
    fs, path = stack.location.filesystem(stack.location.uri_for(project_key(project, f"raw/{folder}")))
    import pyarrow.fs as pafs

    found = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True))
    return sorted(f.path for f in found if f.is_file)


async def materialize(stack: Stack, project: str, headers: dict[str, str], view: str) -> dict[str, Any]:
    response = await stack.client.post(
        f"{base(project)}/materializations",
        json={"feature_views": [view], "start": (T0 - timedelta(days=1)).isoformat()},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    return await stack.wait_job(headers, response.json())


async def test_wrong_types_and_unknown_columns_are_refused_naming_them(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    before = parts(stack, project)
    refused: list[tuple[dict[str, Any], str]] = [
        ({"rows": [row(driver_id="notint")], "to": "offline"}, "driver_id"),
        ({"rows": [row(driver_id=None)], "to": "offline"}, "driver_id"),
        ({"rows": [row(trips="x")], "to": "online"}, "trips"),
        ({"rows": [row(trips=1.5)], "to": "online_and_offline"}, "trips"),
        ({"rows": [row(trips=True)], "to": "online"}, "trips"),
        ({"rows": [row(rating="4.5")], "to": "offline"}, "rating"),
        ({"rows": [row(event_timestamp="yesterday")], "to": "offline"}, "event_timestamp"),
        ({"columns": {**{k: [v] for k, v in row().items()}, "driver_id": [[1]]}, "to": "offline"}, "driver_id"),
    ]
    for body, column in refused:
        response = await stack.client.post(
            f"{base(project)}/push", json={"push_source": "driver_push", **body}, headers=headers
        )
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["field"] == column, problem
        assert repr(column) in problem["detail"], problem
    extra = await stack.client.post(
        f"{base(project)}/push",
        json={"push_source": "driver_push", "rows": [row(speed=3, colour="red")], "to": "offline"},
        headers=headers,
    )
    assert extra.status_code == 422, extra.text
    assert extra.json()["extra"] == ["speed", "colour"]
    assert "speed, colour" in extra.json()["detail"]
    feast_style = await stack.client.post(
        f"/feast/{project}/push",
        json={
            "push_source_name": "driver_push",
            "df": {k: [v] for k, v in row(driver_id="x").items()},
            "to": "offline",
        },
        headers=headers,
    )
    assert feast_style.status_code == 422, feast_style.text
    assert feast_style.json()["field"] == "driver_id"
    text_keys = pa.table({"driver_id": ["a"], "trips": [1], "rating": [1.0], "event_timestamp": [NOW]})
    upload = io.BytesIO()
    pq.write_table(text_keys, upload)
    uploaded = await stack.client.post(
        f"{base(project)}/push/batches",
        params={"push_source": "driver_push", "to": "offline"},
        content=upload.getvalue(),
        headers={**headers, "content-type": "application/vnd.apache.parquet"},
    )
    assert uploaded.status_code == 422, uploaded.text
    assert uploaded.json()["field"] == "driver_id"
    # Nothing was written anywhere ...
    assert parts(stack, project) == before
    assert (await online(stack, project, headers, [1]))["statuses"] == ["NOT_FOUND"]
    # ... so the source still materializes, and typed pushes (ints for a float, nulls for a feature) land.
    good = [row(driver_id=5, trips=None, rating=4), row(driver_id=6, trips=7)]
    pushed = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": good, "to": "offline"}, headers=headers
    )
    assert pushed.status_code == 200, pushed.text
    [part] = [p for p in parts(stack, project) if p not in before]
    fs, _ = stack.location.filesystem(stack.location.uri_for("x"))
    written = pq.read_table(part, filesystem=fs)
    original = pq.read_schema(before[0], filesystem=fs)
    assert written.schema.field("driver_id").type == original.field("driver_id").type == pa.int64()
    assert written.column("rating").to_pylist() == [4.0, 4.5]
    done = await materialize(stack, project, headers, "driver_live")
    assert done["status"] == "succeeded", done
    assert (await online(stack, project, headers, [6]))["values"] == [7]


async def test_the_first_offline_push_into_an_empty_folder_works(stack: Stack) -> None:
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)  # entities, a push source the test does not use
    folder = {"name": "fresh", "kind": "parquet", "path": "raw/empty", "timestamp_field": "event_timestamp"}
    await post_definitions(
        stack,
        project,
        headers,
        [
            ("data-sources", folder),
            ("data-sources", {"name": "fresh_push", "kind": "push", "batch_source": "fresh"}),
            (
                "feature-views",
                {
                    "name": "fresh_view",
                    "entities": ["driver"],
                    "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
                    "source": "fresh_push",
                },
            ),
        ],
    )
    for driver in (1, 2):  # the first push starts the folder, the second appends to it
        pushed = await stack.client.post(
            f"{base(project)}/push",
            json={
                "push_source": "fresh_push",
                "rows": [row(driver_id=driver, trips=driver * 10)],
                "to": "online_and_offline",
            },
            headers=headers,
        )
        assert pushed.status_code == 200, pushed.text
    body = {"features": ["fresh_view:trips"], "entities": {"driver_id": [1, 2]}}
    answer = (await stack.client.post(f"{base(project)}/online", json=body, headers=headers)).json()
    assert answer["results"][1]["values"] == [10, 20]
    assert len(parts(stack, project, "empty")) == 2
    done = await materialize(stack, project, headers, "fresh_view")
    assert done["status"] == "succeeded", done
    assert done["result"]["rows"] == 2


async def test_offline_rows_are_refused_for_a_batch_source_on_one_file(stack: Stack) -> None:
    """Rows are appended as part files of a folder; a batch source on a single parquet file cannot take them
    (this answered 500). The refusal names `to` and writes nothing: online pushes still work."""
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)  # entities and the parquet sources of `data.define`
    await post_definitions(
        stack,
        project,
        headers,
        [
            ("data-sources", {"name": "customer_push", "kind": "push", "batch_source": "customers"}),
            (
                "feature-views",
                {
                    "name": "customer_live",
                    "entities": ["customer"],
                    "features": [{"name": "spend", "dtype": "float64"}, {"name": "segment", "dtype": "string"}],
                    "source": "customer_push",
                },
            ),
        ],
    )
    pushed_row = {"customer_id": 9, "spend": 1.0, "segment": "z", "event_timestamp": NOW.isoformat()}
    for to in ("offline", "online_and_offline"):
        refused = await stack.client.post(
            f"{base(project)}/push",
            json={"push_source": "customer_push", "rows": [pushed_row], "to": to},
            headers=headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "to"
        assert "single parquet file" in refused.json()["detail"]
    body = {"features": ["customer_live:spend"], "entities": {"customer_id": [9]}}
    assert (await stack.client.post(f"{base(project)}/online", json=body, headers=headers)).json()["results"][1][
        "statuses"
    ] == ["NOT_FOUND"]
    online_only = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "customer_push", "rows": [pushed_row]}, headers=headers
    )
    assert online_only.status_code == 200, online_only.text


async def test_a_failed_online_write_takes_the_offline_append_back(embedded_stack: Stack) -> None:
    """The online store (SQLite here) is locked by another writer: the push answers 503 naming it after
    Feast's 5 s lock timeout, and the part file it had appended offline is gone."""
    stack = embedded_stack
    project, headers = await stack.project()
    await live_view(stack, project, headers, None)
    warm = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": [row(driver_id=9)]}, headers=headers
    )
    assert warm.status_code == 200, warm.text
    before = parts(stack, project)
    [database] = Path(stack.settings.data_dir).glob("**/feast_online.db")
    blocker = sqlite3.connect(database, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        response = await stack.client.post(
            f"{base(project)}/push",
            json={"push_source": "driver_push", "rows": [row(driver_id=1)], "to": "online_and_offline"},
            headers=headers,
        )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert response.status_code == 503, response.text
    problem = response.json()
    assert problem["component"] == "online-store"
    assert parts(stack, project) == before
    assert (await online(stack, project, headers, [1]))["statuses"] == ["NOT_FOUND"]
