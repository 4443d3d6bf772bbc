"""The files API: members put data into their project's folder and use it from parquet sources and
`entity_path` (the whole flow, on S3 and the embedded default); hostile paths, oversized uploads and
the wrong roles change nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pandas as pd
import pyarrow.parquet as pq
from litestar.testing import AsyncTestClient

from mlplatform.settings import Settings
from tests.integration.features.data import ENTITY_ROWS, T0, driver_rows, entity_rows
from tests.integration.features.stack import Stack
from tests.integration.features.test_path_confinement import SECRET, hostile, parquet_files, refused
from tests.support.factories import grant


def files(project: str, path: str = "") -> str:
    return f"/api/v1/projects/{project}/files/{quote(path, safe='/')}" if path else f"/api/v1/projects/{project}/files"


def features(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def parquet(frame: pd.DataFrame) -> bytes:
    return frame.to_parquet(index=False)


async def test_uploaded_files_feed_sources_materialization_and_training_sets(stack: Stack) -> None:
    project, headers = await stack.project()
    client = stack.client
    drivers = parquet(driver_rows())
    created = await client.put(files(project, "raw/drivers/part-0.parquet"), content=drivers, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json() == {"path": "raw/drivers/part-0.parquet", "size": len(drivers), "last_modified": None}
    entities = pd.DataFrame(entity_rows())
    entities["event_timestamp"] = pd.to_datetime(entities["event_timestamp"], utc=True)
    await client.put(files(project, "inputs/entities.parquet"), content=b"not yet", headers=headers)
    replaced = await client.put(files(project, "inputs/entities.parquet"), content=parquet(entities), headers=headers)
    assert replaced.status_code == 200, replaced.text

    downloaded = await client.get(files(project, "raw/drivers/part-0.parquet"), headers=headers)
    assert downloaded.status_code == 200
    assert downloaded.content == drivers
    assert downloaded.headers["content-type"] == "application/octet-stream"
    assert downloaded.headers["content-disposition"] == "attachment"
    assert downloaded.headers.get_list("x-content-type-options") == ["nosniff"]
    listed = (await client.get(files(project), headers=headers)).json()
    assert [(f["path"], f["size"]) for f in listed["items"]] == [
        ("inputs/entities.parquet", len(parquet(entities))),
        ("raw/drivers/part-0.parquet", len(drivers)),
    ]
    page = (await client.get(files(project), params={"prefix": "raw/", "limit": 1}, headers=headers)).json()
    assert [f["path"] for f in page["items"]] == ["raw/drivers/part-0.parquet"]
    first = (await client.get(files(project), params={"limit": 1}, headers=headers)).json()
    rest = (await client.get(files(project), params={"cursor": first["next_cursor"]}, headers=headers)).json()
    assert [f["path"] for f in first["items"] + rest["items"]] == [f["path"] for f in listed["items"]]

    for kind, body in [
        ("entities", {"name": "driver", "join_key": "driver_id"}),
        (
            "data-sources",
            {"name": "drivers", "kind": "parquet", "path": "raw/drivers/", "timestamp_field": "event_timestamp"},
        ),
        (
            "feature-views",
            {
                "name": "driver_stats",
                "entities": ["driver"],
                "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
                "source": "drivers",
            },
        ),
    ]:
        response = await client.post(f"{features(project)}/{kind}", json=body, headers=headers)
        assert response.status_code == 201, response.text
    assert response.status_code == 201
    source = (await client.get(f"{features(project)}/data-sources/drivers", headers=headers)).json()
    assert source["path"] == "raw/drivers"
    assert source["uri"].endswith(f"/projects/{project}/raw/drivers")

    start = (T0 - timedelta(days=1)).isoformat()
    job = await client.post(f"{features(project)}/materializations", json={"start": start}, headers=headers)
    assert (await stack.wait_job(headers, job.json()))["status"] == "succeeded"
    online = await client.post(
        f"{features(project)}/online",
        json={"features": ["driver_stats:trips"], "entities": {"driver_id": [1, 2, 3]}},
        headers=headers,
    )
    assert online.json()["results"][1]["values"] == [3, 10, None]

    body = {"features": ["driver_stats:trips"], "entity_path": "inputs/entities.parquet"}
    job = await client.post(f"{features(project)}/historical", json=body, headers=headers)
    assert job.status_code == 202, job.text
    done = await stack.wait_job(headers, job.json())
    assert done["status"] == "succeeded", done
    fs, path = stack.location.filesystem(done["result"]["uri"])
    result = pq.read_table(path, filesystem=fs).to_pandas()
    assert len(result) == len(ENTITY_ROWS)

    deleted = await client.delete(files(project, "inputs/entities.parquet"), headers=headers)
    assert deleted.status_code == 204, deleted.text
    missing = await client.get(files(project, "inputs/entities.parquet"), headers=headers)
    assert missing.status_code == 404
    assert (await client.delete(files(project, "inputs/entities.parquet"), headers=headers)).status_code == 404


async def test_hostile_file_paths_are_422_and_change_nothing(stack: Stack) -> None:
    project, headers = await stack.project()
    other, _ = await stack.project()
    stack.write_project_parquet(other, "raw/drivers/part-0.parquet", driver_rows())
    stack.write_parquet(SECRET, driver_rows())
    before = parquet_files(stack, f"projects/{other}") + parquet_files(stack, "mlflow")
    # NUL is left out: in a URL it also lands in the gateway's audit row, which PostgreSQL refuses (a gateway
    # matter); the resolver's refusal of it is tested through JSON bodies and in the unit table.
    for path in [p for p in hostile(stack, other, "raw/drivers/part-0.parquet") if "\x00" not in p]:
        url = f"/api/v1/projects/{project}/files/{quote(path, safe='')}"
        for method in ("PUT", "GET", "DELETE"):
            response = await stack.client.request(method, url, content=b"PAR1", headers=headers)
            refused(response, "path")
            assert b"PAR1" not in response.content or method == "PUT"
    listing = await stack.client.get(files(project), params={"prefix": f"../{other}/"}, headers=headers)
    refused(listing, "prefix")
    assert parquet_files(stack, f"projects/{other}") + parquet_files(stack, "mlflow") == before
    assert (await stack.client.get(files(project), headers=headers)).json()["items"] == []


async def test_viewers_read_contributors_write_outsiders_see_nothing(stack: Stack) -> None:
    project, writer = await stack.project()
    viewer = await grant(stack.app, project=project, role="viewer")
    outsider = await grant(stack.app, project=f"{project}-x", role="admin")
    url = files(project, "notes/a.bin")
    assert (await stack.client.put(url, content=b"abc", headers=writer)).status_code == 201
    assert (await stack.client.get(url, headers=viewer)).content == b"abc"
    assert (await stack.client.put(url, content=b"xyz", headers=viewer)).status_code == 403
    assert (await stack.client.delete(url, headers=viewer)).status_code == 403
    for method in ("GET", "PUT", "DELETE"):
        assert (await stack.client.request(method, url, content=b"x", headers=outsider)).status_code == 404
    assert (await stack.client.get(url, headers=writer)).content == b"abc"


async def test_uploads_over_the_limit_are_413_and_store_nothing(embedded_settings: Settings) -> None:
    from mlplatform.app import create_app

    limited = embedded_settings.model_copy(
        update={"files": embedded_settings.files.model_copy(update={"max_upload_bytes": 1000})}
    )
    app = create_app(limited)
    async with AsyncTestClient(app) as client:
        headers = await grant(app, project="p1", role="contributor")
        url = files("p1", "big.bin")

        announced = await client.put(url, content=b"x" * 1001, headers=headers)
        assert announced.status_code == 413, announced.text
        assert announced.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(url, headers=headers)).status_code == 404
        assert (await client.get(files("p1"), headers=headers)).json()["items"] == []
        exact = await client.put(url, content=b"y" * 1000, headers=headers)
        assert exact.status_code == 201, exact.text
        assert (await client.get(url, headers=headers)).content == b"y" * 1000
