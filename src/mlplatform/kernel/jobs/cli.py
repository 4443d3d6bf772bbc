"""`mlplatform jobs ...`: follow, list and cancel jobs over the HTTP API; run the worker self-test.

API commands read `MLPLATFORM_URL` (default http://127.0.0.1:8000) and `MLPLATFORM_TOKEN` (an access
token or API key) unless `--url`/`--token` are given. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Annotated, Any

import typer

from mlplatform.kernel.command_line import fail, load_settings

jobs_cli = typer.Typer(
    name="jobs",
    help="Long-running jobs: list, follow with a progress bar, cancel; check the workers.",
    no_args_is_help=True,
)

TERMINAL = {"succeeded", "failed", "cancelled"}

UrlOption = Annotated[str, typer.Option("--url", envvar="MLPLATFORM_URL", help="Platform base URL.")]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="MLPLATFORM_TOKEN", help="Access token or API key.", show_default=False)
]
DEFAULT_URL = "http://127.0.0.1:8000"


class ApiClient:
    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0)
        self._httpx = httpx

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except self._httpx.HTTPError as exc:
            fail(f"cannot reach {self._client.base_url}: {exc}", code=1)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.text
            except ValueError:
                detail = response.text
            fail(f"{method} {path}: {response.status_code} {detail}", code=1)
        return response.json() if response.content else None

    def close(self) -> None:
        self._client.close()


def follow(
    fetch: Any, job: dict[str, Any], *, poll_seconds: float = 0.5, timeout: float | None = None
) -> dict[str, Any]:
    """Show a progress bar for `job` until it ends; `fetch(job_id)` returns the job's latest state."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(
        TextColumn("[bold]{task.fields[kind]}[/bold] {task.fields[status]}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(
            job.get("message") or "", total=1.0, kind=job["kind"], status=job["status"], completed=job["progress"]
        )
        while job["status"] not in TERMINAL:
            if deadline is not None and time.monotonic() > deadline:
                fail(f"job {job['id']} still {job['status']} after {timeout} s", code=3)
            time.sleep(poll_seconds)
            job = fetch(job["id"])
            progress.update(task, completed=job["progress"], description=job.get("message") or "", status=job["status"])
    return job


def _report(job: dict[str, Any]) -> None:
    if job["status"] == "succeeded":
        typer.echo(json.dumps(job.get("result"), indent=2, default=str))
        return
    fail(f"job {job['id']} {job['status']}: {job.get('error') or ''}".rstrip(": "), code=1)


@jobs_cli.command("list")
def list_command(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    project: Annotated[str | None, typer.Option(help="Only this project's jobs.")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed or cancelled.")] = None,
    kind: Annotated[str | None, typer.Option(help="Job kind, e.g. features.materialize.")] = None,
    limit: Annotated[int, typer.Option(help="How many (newest first).")] = 20,
) -> None:
    """List the jobs you can see, newest first (a table on a terminal, tab-separated lines otherwise)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    client = ApiClient(url, token)
    params = {k: v for k, v in {"project": project, "status": status, "kind": kind, "limit": limit}.items() if v}
    page = client.request("GET", "/api/v1/jobs", params=params)
    rows = [
        (
            job["id"],
            job["kind"],
            job["project"] or "",
            job["status"],
            f"{job['progress'] * 100:.0f}%",
            job["created_at"][:19],
            (job.get("message") or "")[:60],
        )
        for job in page["items"]
    ]
    if not sys.stdout.isatty():
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table("id", "kind", "project", "status", "progress", "created", "message")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@jobs_cli.command("show")
def show_command(job_id: str, url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Print one job as JSON."""
    typer.echo(json.dumps(ApiClient(url, token).request("GET", f"/api/v1/jobs/{job_id}"), indent=2))


@jobs_cli.command("wait")
def wait_command(
    job_id: str,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds (exit 3).")] = None,
) -> None:
    """Show a progress bar until the job ends; print its result (exit 0) or error (exit 1)."""
    client = ApiClient(url, token)
    job = client.request("GET", f"/api/v1/jobs/{job_id}")
    _report(follow(lambda jid: client.request("GET", f"/api/v1/jobs/{jid}"), job, timeout=timeout))


@jobs_cli.command("cancel")
def cancel_command(job_id: str, url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Cancel a queued or running job."""
    job = ApiClient(url, token).request("POST", f"/api/v1/jobs/{job_id}/cancel")
    typer.echo(f"{job['id']} {job['status']} ({job.get('message') or ''})")


@jobs_cli.command("run")
def run_command(
    path: Annotated[
        str, typer.Argument(help="API path that starts a job, e.g. /api/v1/projects/p/features/materializations")
    ],
    data: Annotated[str, typer.Option("--data", "-d", help="JSON request body.")] = "{}",
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    wait: Annotated[bool, typer.Option(help="Follow the job until it ends.")] = True,
) -> None:
    """POST to an endpoint that starts a job, then follow it with a progress bar."""
    try:
        body = json.loads(data)
    except ValueError as exc:
        fail(f"--data is not JSON: {exc}")
    client = ApiClient(url, token)
    response = client.request("POST", path if path.startswith("/") else f"/{path}", json=body)
    job = response.get("job", response) if isinstance(response, dict) else None
    if not isinstance(job, dict) or "id" not in job or "status" not in job:
        fail(f"{path} did not answer with a job: {response!r}", code=1)
    typer.echo(job["id"], err=True)
    if wait:
        _report(follow(lambda jid: client.request("GET", f"/api/v1/jobs/{jid}"), job))


@jobs_cli.command("selftest")
def selftest_command(
    seconds: Annotated[float, typer.Option(help="How long the test job runs.")] = 2.0,
    fail_attempts: Annotated[int, typer.Option(help="Simulate a failure in the first N attempts.")] = 0,
    max_attempts: Annotated[int, typer.Option(help="Attempts before the job fails.")] = 3,
    heartbeat_seconds: Annotated[int, typer.Option(help="Silence after which an attempt counts as lost.")] = 15,
    wait: Annotated[bool, typer.Option(help="Follow the job until it ends.")] = True,
) -> None:
    """Submit the kernel's self-test job through the configured database and queue (needs the
    platform's settings, like `mlplatform migrate`). With Redis a worker must be running; on the
    embedded default this command runs the job itself."""
    settings = load_settings()
    params = {"seconds": seconds, "fail_attempts": fail_attempts}
    code = asyncio.run(_selftest(settings, params, max_attempts, heartbeat_seconds, wait=wait))
    raise typer.Exit(code)


async def _selftest(settings: Any, params: dict[str, Any], max_attempts: int, heartbeat: int, *, wait: bool) -> int:
    from mlplatform.kernel.context import build_context
    from mlplatform.kernel.jobs.builtin import SELFTEST_KIND
    from mlplatform.kernel.jobs.model import KernelJob
    from mlplatform.kernel.jobs.runtime import jobs_runtime
    from mlplatform.kernel.jobs.schemas import Job

    platform = build_context(settings)
    runtime = jobs_runtime(platform)
    await runtime.start()
    try:
        async with platform.database.transaction() as session:
            record = await runtime.submit(
                session,
                kind=SELFTEST_KIND,
                params=params,
                created_by=f"cli:{os.environ.get('USER', 'unknown')}",
                max_attempts=max_attempts,
                heartbeat_seconds=heartbeat,
            )
            job_id = record.id
        typer.echo(str(job_id))
        if not wait:
            await runtime.drain()
            return 0

        async def fetch() -> dict[str, Any]:
            async with platform.database.transaction() as session:
                row = await session.get(KernelJob, job_id)
                assert row is not None
                return json.loads(json.dumps(_builtins(Job.from_row(row)), default=str))

        loop = asyncio.get_running_loop()
        current = await fetch()

        def fetch_sync(_job_id: str) -> dict[str, Any]:
            return asyncio.run_coroutine_threadsafe(fetch(), loop).result()

        final = await asyncio.to_thread(follow, fetch_sync, current)
        if final["status"] == "succeeded":
            typer.echo(json.dumps(final.get("result")))
            return 0
        typer.echo(f"job {job_id} {final['status']}: {final.get('error')}", err=True)
        return 1
    finally:
        await runtime.stop()
        await platform.close()


def _builtins(value: Any) -> Any:
    import msgspec

    return msgspec.to_builtins(value)
