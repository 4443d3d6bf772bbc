"""The `mlplatform` command line. Heavy imports (the app, MLflow, Feast) happen inside commands."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from functools import partial
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError

from mlplatform.kernel.command_line import fail, load_settings
from mlplatform.kernel.jobs.cli import jobs_cli
from mlplatform.settings import ENV_PREFIX, Settings

app = typer.Typer(
    name="mlplatform",
    help="A self-hosted ML platform in one process: gateway, catalogue, features, experiments, lineage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: server.port).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: server.workers).")] = None,
) -> None:
    """Run the platform's HTTP server."""
    import uvicorn

    from mlplatform.kernel.logging import configure_logging

    # The app factory reads settings again in every worker: pass the flags on as settings.
    for flag, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"{ENV_PREFIX}SERVER__{flag}"] = str(value)
    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    _prepare_database(settings)
    uvicorn.run(
        "mlplatform.app:create_app",
        factory=True,
        host=settings.server.host,
        port=settings.server.port,
        workers=settings.server.workers,
        log_config=None,
        access_log=False,
        proxy_headers=bool(settings.http.trusted_proxies),
        forwarded_allow_ips=",".join(settings.http.trusted_proxies) or None,
        server_header=False,
        timeout_graceful_shutdown=settings.server.graceful_shutdown_seconds,
    )


def _prepare_database(settings: Settings) -> None:
    """Migrate (development default) or refuse to start on an unmigrated database (production)."""
    from mlplatform.kernel.db import Database
    from mlplatform.kernel.migrations import current_revisions, head_revisions, upgrade
    from mlplatform.kernel.secrets import secret_box

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url

    async def current() -> set[str]:
        database = Database(url)
        try:
            return await current_revisions(database)
        finally:
            await database.dispose()

    try:
        at = asyncio.run(current())
    except (OSError, DBAPIError) as exc:
        fail(f"cannot reach the database: {_first_line(exc)}", code=1)
    if at == head_revisions(url):
        return
    if not settings.should_auto_migrate:
        fail("the database is not migrated: run `mlplatform migrate` first", code=1)
    upgrade(url, secrets=partial(secret_box, settings))


@app.command()
def migrate(
    mlflow: Annotated[bool, typer.Option(help="Also create/upgrade MLflow's own schema.")] = True,
) -> None:
    """Apply the platform's database migrations (creates the mlplatform/mlflow/feast schemas on PostgreSQL),
    then MLflow's own migrations for its tracking store."""
    from mlplatform.kernel.logging import configure_logging
    from mlplatform.kernel.migrations import upgrade
    from mlplatform.kernel.secrets import SecretKeyError, secret_box

    settings = load_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(settings.resolved_database_url, secrets=partial(secret_box, settings))
        if mlflow:
            from mlplatform.modules.experiments.api import upgrade_mlflow_schema

            revision = upgrade_mlflow_schema(settings)
            typer.echo(f"MLflow schema at {revision}", err=True)
    except (OSError, DBAPIError, SecretKeyError) as exc:
        fail(f"cannot migrate the database: {_first_line(exc)}", code=1)
    typer.echo("migrated", err=True)


@app.command()
def openapi(
    indent: Annotated[int, typer.Option(help="JSON indentation.")] = 2,
) -> None:
    """Print the OpenAPI 3.1 document of the HTTP API."""
    from mlplatform.app import create_app

    spec = create_app(load_settings()).openapi_schema.to_schema()
    sys.stdout.write(json.dumps(spec, indent=indent or None, sort_keys=False) + "\n")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at the same time.")] = 4,
    sweep_seconds: Annotated[int, typer.Option(help="How often the queue cleans up after dead workers.")] = 10,
    shutdown_grace: Annotated[int, typer.Option(help="Seconds running jobs get to finish on SIGTERM.")] = 10,
) -> None:
    """Run a job worker: materializations, training sets and other jobs from the queue (needs Redis)."""
    from mlplatform.app import create_app
    from mlplatform.kernel.jobs.worker import WorkerUnavailable, worker_main

    settings = load_settings()
    settings.feast_registry.enabled = False  # a worker serves no clients: only `serve` opens the registry port
    _prepare_database(settings)
    try:
        worker_main(settings, create_app, concurrency=concurrency, sweep_seconds=sweep_seconds, grace=shutdown_grace)
    except WorkerUnavailable as exc:
        fail(str(exc))


app.add_typer(jobs_cli, name="jobs")


@app.command(
    "lineage",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    help="Lineage: re-send OpenLineage events to Marquez.",
)
def lineage(ctx: typer.Context) -> None:
    """Hands its arguments to the lineage module's commands, imported only here: importing any module's package
    loads its `Module` declaration and with it the web stack (~1 s), which no other command should pay."""
    from mlplatform.modules.lineage.cli import lineage_cli

    lineage_cli(ctx.args, prog_name=f"{ctx.find_root().info_name} lineage")


admin = typer.Typer(help="Administration: signing keys and other platform-wide actions.", no_args_is_help=True)
app.add_typer(admin, name="admin")


@admin.command("rotate-signing-key")
def rotate_signing_key() -> None:
    """Make a new token signing key active; tokens signed by the old key stay valid until they expire.

    Replicas sign with the new key within 15 s (and accept it at once when they see a token signed with it)."""
    from mlplatform.modules.gateway.cli import rotate_signing_key as rotate

    settings = load_settings()
    try:
        kid = rotate(settings)
    except (OSError, DBAPIError) as exc:
        fail(f"cannot rotate the signing key: {_first_line(exc)}", code=1)
    typer.echo(f"new signing key {kid} is active ({settings.env.value})")


@admin.command("new-secret-key")
def new_secret_key() -> None:
    """Print a new key for MLPLATFORM_SECRETS__KEYS (secrets at rest); nothing is changed."""
    from mlplatform.kernel.secrets import generate_key

    typer.echo(generate_key())


@admin.command("rotate-secret-key")
def rotate_secret_key() -> None:
    """Re-encrypt every stored secret under the first key of MLPLATFORM_SECRETS__KEYS.

    Put the new key first and keep the old ones after it (every replica), run this, then remove the old keys."""
    from mlplatform.kernel.db import Base, Database
    from mlplatform.kernel.secrets import SecretKeyError, reencrypt_columns, secret_box
    from mlplatform.tables import import_all_tables

    settings = load_settings()
    import_all_tables()

    async def rotate() -> int:
        database = Database(settings.resolved_database_url)
        try:
            return await reencrypt_columns(database, secret_box(settings), Base.metadata)
        finally:
            await database.dispose()

    try:
        count = asyncio.run(rotate())
    except SecretKeyError as exc:
        fail(str(exc), code=1)
    except (OSError, DBAPIError) as exc:
        fail(f"cannot re-encrypt the stored secrets: {_first_line(exc)}", code=1)
    typer.echo(f"{count} stored secret(s) re-encrypted under the first key")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def main() -> None:
    app()


if __name__ == "__main__":
    main()
