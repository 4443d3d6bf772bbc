"""`mlplatform lineage ...`: replay stored OpenLineage events. Heavy imports stay inside the commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from mlplatform.kernel.command_line import fail, load_settings

lineage_cli = typer.Typer(
    name="lineage",
    help="Lineage: re-send OpenLineage events to Marquez.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@lineage_cli.callback()
def lineage_group() -> None:
    """Lineage: re-send OpenLineage events to Marquez."""


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter("expected an ISO-8601 date or date-time, e.g. 2026-11-27T09:00:00Z") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@lineage_cli.command("replay")
def replay_command(
    since: Annotated[
        str | None, typer.Option(help="Only events whose eventTime is at or after this ISO-8601 time.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="OpenLineage endpoint base URL (default: MLPLATFORM_OPENLINEAGE_URL), e.g. http://marquez:5000."
        ),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Only events of this project.")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only events in this status (pending, emitted, failed, unsent); repeatable."),
    ] = None,
    after_id: Annotated[
        int | None, typer.Option(help="Resume after this event id (printed by a replay that stopped).")
    ] = None,
) -> None:
    """Re-send stored OpenLineage events, oldest first, to a (new) Marquez.

    Stops at the first event the endpoint does not accept and prints how to resume (--after-id)."""
    import asyncio

    from sqlalchemy.exc import DBAPIError

    from mlplatform.kernel.db import Database
    from mlplatform.modules.lineage.replay import ReplayResult, replay

    settings = load_settings()
    target = url or settings.openlineage_url
    if not target:
        fail("no endpoint: pass --url or set MLPLATFORM_OPENLINEAGE_URL")
    if not target.startswith(("http://", "https://")):
        fail("--url must be an http:// or https:// URL")
    statuses = list(status or [])
    unknown = sorted(set(statuses) - {"pending", "emitted", "failed", "unsent"})
    if unknown:
        fail(f"unknown status {', '.join(unknown)}: use pending, emitted, failed or unsent")
    started_after = _since(since)

    async def run() -> ReplayResult:
        database = Database(settings.resolved_database_url, pool_size=1)
        try:
            return await replay(
                database,
                target,
                since=started_after,
                after_id=after_id,
                project=project,
                statuses=statuses or None,
                settings=settings.lineage,
            )
        finally:
            await database.dispose()

    try:
        result = asyncio.run(run())
    except (OSError, DBAPIError) as exc:
        fail(f"cannot read the stored events: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}", code=1)
    if result.failed_id is not None:
        typer.echo(f"sent {result.sent} event(s); event {result.failed_id} was refused: {result.error}", err=True)
        resume = result.last_id or after_id or 0
        typer.echo(f"resume with: mlplatform lineage replay --url {target} --after-id {resume}", err=True)
        raise typer.Exit(1)
    typer.echo(f"sent {result.sent} event(s) to {target}")
