"""Sending stored events to a loopback capture server: order, retries, giving up, replay."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from mlplatform.kernel.db import Database
from mlplatform.modules.lineage.models import OpenLineageEventRow
from mlplatform.modules.lineage.openlineage.emitter import OpenLineageEmitter
from mlplatform.modules.lineage.replay import replay
from mlplatform.settings import LineageSettings
from tests.integration.lineage.capture import CaptureServer, capture_server
from tests.integration.lineage.flow import Flow, apply_all
from tests.integration.lineage.schema import validate_run_event
from tests.support.wait import wait_until_async

FAST = LineageSettings(
    timeout_seconds=2.0, http_retries=0, max_attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02
)


async def rows(database: Database) -> list[OpenLineageEventRow]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(OpenLineageEventRow).order_by(OpenLineageEventRow.id))).all())


async def drain(emitter: OpenLineageEmitter, seconds: float = 15) -> None:
    """Run the emitter until nothing is pending (retries included)."""

    async def nothing_pending() -> bool:
        await emitter.run_until_idle()
        return not any(row.status == "pending" for row in await rows(emitter.database))

    await wait_until_async(nothing_pending, timeout=seconds, interval=0.03, message="no event pending")


async def test_events_are_sent_in_order_and_validate(database: Database, capture: CaptureServer) -> None:
    await apply_all(database, Flow().events(), emit=True)
    emitter = OpenLineageEmitter(database, capture.url, FAST)
    try:
        assert await emitter.run_until_idle() == 12
    finally:
        await emitter.stop()
    stored = await rows(database)
    assert [row.status for row in stored] == ["emitted"] * 12
    assert all(row.emitted_at is not None and row.attempts == 1 for row in stored)
    assert capture.events == [row.body for row in stored]
    assert set(capture.paths) == {"/api/v1/lineage"}
    for event in capture.events:
        validate_run_event(event)


async def test_a_failing_server_is_retried_and_order_is_kept(database: Database, capture: CaptureServer) -> None:
    await apply_all(database, Flow().events(), emit=True)
    capture.fail_next = 2
    emitter = OpenLineageEmitter(database, capture.url, FAST)
    try:
        assert await emitter.run_until_idle() == 0
        first = (await rows(database))[0]
        assert (first.status, first.attempts) == ("pending", 1)
        assert "503" in (first.last_error or "")
        await drain(emitter)
    finally:
        await emitter.stop()
    stored = await rows(database)
    assert [row.status for row in stored] == ["emitted"] * 12
    assert stored[0].attempts == 3
    assert stored[0].last_error is None
    assert capture.events == [row.body for row in stored]


async def test_after_max_attempts_an_event_is_failed_and_the_rest_goes_on(
    database: Database, capture: CaptureServer
) -> None:
    await apply_all(database, Flow().events(), emit=True)
    capture.fail_next = FAST.max_attempts
    emitter = OpenLineageEmitter(database, capture.url, FAST)
    try:
        await drain(emitter)
    finally:
        await emitter.stop()
    stored = await rows(database)
    assert (stored[0].status, stored[0].attempts) == ("failed", FAST.max_attempts)
    assert [row.status for row in stored[1:]] == ["emitted"] * 11
    assert capture.events == [row.body for row in stored[1:]]


async def test_a_rejected_event_is_not_retried(database: Database, capture: CaptureServer) -> None:
    await apply_all(database, Flow().events()[:5], emit=True)
    capture.fail_next, capture.fail_status = 1, 400
    emitter = OpenLineageEmitter(database, capture.url, FAST)
    try:
        await drain(emitter)
    finally:
        await emitter.stop()
    stored = await rows(database)
    assert (stored[0].status, stored[0].attempts) == ("failed", 1)
    assert "400" in (stored[0].last_error or "")
    assert [row.status for row in stored[1:]] == ["emitted"] * 3


async def test_an_unreachable_endpoint_leaves_events_pending(database: Database) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await apply_all(database, Flow().events()[:5], emit=True)
    emitter = OpenLineageEmitter(database, f"http://127.0.0.1:{port}", FAST)
    try:
        assert await emitter.run_until_idle() == 0
    finally:
        await emitter.stop()
    stored = await rows(database)
    assert [row.status for row in stored] == ["pending"] * 4
    assert "Connection" in (stored[0].last_error or "")


async def test_replay_resends_everything_or_a_slice(database: Database, capture: CaptureServer) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    stored = await rows(database)
    result = await replay(database, capture.url, settings=FAST)
    assert (result.sent, result.failed_id) == (12, None)
    assert capture.events == [row.body for row in stored]
    assert {row.status for row in await rows(database)} == {"unsent"}

    capture.events.clear()
    result = await replay(database, capture.url, since=flow.at(9), settings=FAST)
    assert [e["job"]["name"].split(".")[0] for e in capture.events] == [
        "train",
        "validate",
        "validate",
        "deploy",
        "deploy",
    ]

    capture.events.clear()
    capture.fail_next = 1
    result = await replay(database, capture.url, after_id=stored[7].id, settings=FAST)
    assert (result.sent, result.failed_id, result.last_id) == (0, stored[8].id, None)
    assert "503" in (result.error or "")


def test_replay_command(tmp_path: Path, lineage_sqlite_template: Path) -> None:
    from mlplatform.cli import app

    path = tmp_path / "replay.db"
    shutil.copy(lineage_sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"

    async def seed() -> None:
        database = Database(url)
        try:
            await apply_all(database, Flow().events())
        finally:
            await database.dispose()

    asyncio.run(seed())
    env = {"MLPLATFORM_DATABASE_URL": url, "MLPLATFORM_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    with capture_server() as server:
        done = runner.invoke(app, ["lineage", "replay", "--url", server.url, "--project", "fraud"], env=env)
        assert done.exit_code == 0, done.output
        assert "sent 12 event(s)" in done.output
        assert len(server.events) == 12

        server.fail_next = 10  # more than the transport's immediate retries
        stopped = runner.invoke(
            app, ["lineage", "replay", "--url", server.url, "--since", "2026-11-27T09:10:00Z"], env=env
        )
        assert stopped.exit_code == 1
        assert "resume with: mlplatform lineage replay" in stopped.output

    missing = runner.invoke(app, ["lineage", "replay"], env=env)
    assert missing.exit_code == 2
    assert "MLPLATFORM_OPENLINEAGE_URL" in missing.output
    bad = runner.invoke(app, ["lineage", "replay", "--url", "http://x", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2
