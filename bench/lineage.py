"""Lineage: query latency on a 10k-node graph, event ingest rate, OpenLineage emission rate (PostgreSQL).

1. Query: loads a graph of `--pipelines` pipelines of 22 nodes (3 feature views, a service, a materialization
   job, 3 x (retrieval job, training dataset, MLflow run, model version, validation), a model, a deployment)
   reading data sources from a shared pool: ~10,000 nodes and ~17,000 edges by default, with COPY, then times
   `LineageService.graph` at depth 3 (each call in its own transaction, as a request) from random
   start nodes: provenance of deployments, impact of data sources and feature views, both directions
   around runs, as a platform admin and as a reader of some projects (RBAC filter in the walk);
   and the same query through the HTTP API in process (authentication, JSON).
2. Ingest: publishes `--flows` complete data flows (13 domain events each: definitions, materialization,
   a check, a training dataset, model, MLflow registry version, catalogue version, run, validation,
   promotion, deployment) to the outbox and times a `Dispatcher` with only the lineage subscriber
   delivering them (graph + OpenLineage events stored).
3. Emission: times the OpenLineage emitter sending those stored events to a loopback HTTP server.

    uv run python bench/lineage.py [--pipelines 450] [--iterations 500] [--flows 200]

Needs PostgreSQL on localhost (MLPLATFORM_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("MLPLATFORM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_KEY = "bench-lineage-admin-key-0123456789"
PROJECTS = [f"team-{i:02d}" for i in range(20)]
NODE_COLUMNS = ["id", "type", "key", "alias", "project", "name", "attributes", "placeholder", "first_seen", "last_seen"]
EDGE_COLUMNS = ["id", "source_id", "target_id", "kind", "project", "event_id", "created_at"]


def database_url(name: str, driver: str = "postgresql") -> str:
    parts = urlsplit(ADMIN_URL)
    return parts._replace(scheme=driver, path=f"/{name}").geturl()


class GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[tuple[Any, ...]] = []
        self.edges: list[tuple[Any, ...]] = []
        self.by_key: dict[tuple[str, str], int] = {}
        self.seen_edges: set[tuple[int, int, str]] = set()
        self.at = datetime(2026, 11, 1, tzinfo=UTC)

    def node(self, node_type: str, key: str, project: str, **attributes: Any) -> int:
        found = self.by_key.get((node_type, key))
        if found is not None:
            return found
        node_id = len(self.nodes) + 1
        self.by_key[(node_type, key)] = node_id
        name = key.rsplit("/", 1)[-1]
        self.nodes.append(
            (node_id, node_type, key, None, project, name, json.dumps(attributes), False, self.at, self.at)
        )
        return node_id

    def edge(self, source: int, target: int, kind: str, project: str) -> None:
        if (source, target, kind) in self.seen_edges:
            return
        self.seen_edges.add((source, target, kind))
        self.edges.append((len(self.edges) + 1, source, target, kind, project, None, self.at))


Starts = dict[str, list[tuple[str, str]]]
"""Start nodes by kind: (`<type>:<key>`, project)."""


def generate(pipelines: int, seed: int = 11) -> tuple[GraphBuilder, Starts]:
    """Each pipeline: 2 raw sources (from a pool shared across pipelines), 3 feature views, 1 service,
    1 materialization job, 3 x (retrieval job, training dataset, run, model version, validation),
    1 model, 1 deployment: 22 nodes of its own."""
    rng = random.Random(seed)
    graph = GraphBuilder()
    starts: Starts = {"deployment": [], "data_source": [], "feature_view": [], "experiment_run": []}
    pool = max(10, pipelines // 5)
    for p in range(pipelines):
        project = PROJECTS[p % len(PROJECTS)]
        sources = []
        for _ in range(2):
            s = rng.randrange(pool)
            key = f"{project}/raw-{s:04d}"
            sources.append(graph.node("data_source", key, project, kind="parquet", uri=f"s3://lake/raw/{s}.parquet"))
            starts["data_source"].append((f"data_source:{key}", project))
        views = []
        for v in range(3):
            key = f"{project}/p{p:04d}-view-{v}"
            view = graph.node("feature_view", key, project, features=["a", "b", "c"])
            graph.edge(sources[v % 2], view, "read", project)
            views.append(view)
            starts["feature_view"].append((f"feature_view:{key}", project))
        service = graph.node("feature_service", f"{project}/p{p:04d}-svc", project)
        for view in views:
            graph.edge(view, service, "part_of", project)
        materialize = graph.node("job", str(uuid.UUID(int=rng.getrandbits(128))), project, kind="features.materialize")
        for source in sources:
            graph.edge(source, materialize, "read", project)
        for view in views:
            graph.edge(materialize, view, "produced", project)
        model = graph.node("model", f"{project}/p{p:04d}-model", project)
        version_nodes = []
        for t in range(3):
            dataset_id = str(uuid.UUID(int=rng.getrandbits(128)))
            retrieval = graph.node("job", str(uuid.UUID(int=rng.getrandbits(128))), project, kind="features.historical")
            dataset = graph.node(
                "training_dataset", dataset_id, project, uri=f"s3://lake/datasets/{dataset_id}.parquet"
            )
            graph.edge(service, dataset, "read", project)
            for view in views:
                graph.edge(view, dataset, "read", project)
            graph.edge(retrieval, dataset, "produced", project)
            run_id = uuid.UUID(int=rng.getrandbits(128)).hex
            run = graph.node("experiment_run", run_id, project, status="FINISHED")
            starts["experiment_run"].append((f"experiment_run:{run_id}", project))
            graph.edge(dataset, run, "trained_on", project)
            version = graph.node("model_version", f"{project}/p{p:04d}-model/{t + 1}", project, stage="registered")
            graph.edge(run, version, "registered_as", project)
            graph.edge(version, model, "version_of", project)
            graph.edge(service, version, "read", project)
            check = graph.node("validation_report", str(uuid.UUID(int=rng.getrandbits(128))), project, status="passed")
            graph.edge(version, check, "validated_by", project)
            version_nodes.append(version)
        deployment_id = str(uuid.UUID(int=rng.getrandbits(128)))
        deployment = graph.node("deployment", deployment_id, project, environment="prod")
        graph.edge(version_nodes[-1], deployment, "deployed_as", project)
        starts["deployment"].append((f"deployment:{deployment_id}", project))
    return graph, starts


async def load(url: str, graph: GraphBuilder) -> None:
    conn = await asyncpg.connect(url, server_settings={"search_path": "mlplatform"})
    try:
        await conn.copy_records_to_table("lineage_nodes", records=graph.nodes, columns=NODE_COLUMNS)
        await conn.copy_records_to_table("lineage_edges", records=graph.edges, columns=EDGE_COLUMNS)
        await conn.execute("SELECT setval(pg_get_serial_sequence('lineage_nodes', 'id'), $1)", len(graph.nodes))
        await conn.execute("SELECT setval(pg_get_serial_sequence('lineage_edges', 'id'), $1)", len(graph.edges))
        await conn.execute("ANALYZE lineage_nodes")
        await conn.execute("ANALYZE lineage_edges")
    finally:
        await conn.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def timed(call: Callable[[], Awaitable[Any]], iterations: int) -> list[float]:
    for _ in range(20):
        await call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def bench_queries(url: str, starts: Starts, iterations: int) -> dict[str, Any]:
    from mlplatform.kernel.db import Database
    from mlplatform.modules.lineage.access import Visibility
    from mlplatform.modules.lineage.services import LineageService

    database = Database(url)
    rng = random.Random(3)
    admin = Visibility(everything=True, any_project=True, projects=())
    reader = Visibility(everything=False, any_project=False, projects=tuple(PROJECTS[:5]))
    sizes: list[int] = []

    def query(kind: str, direction: str, who: Visibility) -> Callable[[], Awaitable[Any]]:
        candidates = [ref for ref, project in starts[kind] if who.allows(project)]

        async def call() -> None:
            async with database.transaction() as session:
                result = await LineageService(session, who).graph(rng.choice(candidates), depth=3, direction=direction)
                sizes.append(len(result.nodes))

        return call

    cases = {
        "provenance of a deployment (upstream)": query("deployment", "upstream", admin),
        "impact of a data source (downstream)": query("data_source", "downstream", admin),
        "impact of a feature view (downstream)": query("feature_view", "downstream", admin),
        "around a run (both)": query("experiment_run", "both", admin),
        "impact of a data source, RBAC reader": query("data_source", "downstream", reader),
        "provenance of a deployment, RBAC reader": query("deployment", "upstream", reader),
    }
    results: dict[str, Any] = {}
    try:
        for name, call in cases.items():
            sizes.clear()
            results[name] = {
                **percentiles(await timed(call, iterations)),
                "nodes_avg": round(statistics.mean(sizes), 1),
            }
            print(f"  {name}: {results[name]}", flush=True)
    finally:
        await database.dispose()
    return results


async def bench_http(
    url: str, tmp: Path, starts: Starts, iterations: int, *, only_lineage: bool = False
) -> dict[str, Any]:
    from litestar.testing import AsyncTestClient

    from mlplatform.app import create_app
    from mlplatform.settings import Settings

    settings = Settings(
        data_dir=tmp, database_url=url, bootstrap_admin_key=ADMIN_KEY, log_json=False, log_level="WARNING"
    )
    settings.rate_limits.enabled = False
    rng = random.Random(5)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    modules = None
    if only_lineage:
        from mlplatform.modules.gateway import module as gateway
        from mlplatform.modules.lineage import module as lineage

        modules = [gateway, lineage]
    async with AsyncTestClient(create_app(settings, modules=modules)) as client:
        # Measure the steady state: Feast loads in a background thread after start (its import holds the GIL
        # for seconds at a time); wait until readiness reports every component up, then a moment more.
        for _ in range(240):
            if (await client.get("/health/ready")).json().get("status") == "up":
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)

        async def call() -> None:
            node = rng.choice(starts["data_source"])[0]
            response = await client.get(
                "/api/v1/lineage", params={"node": node, "depth": 3, "direction": "downstream"}, headers=headers
            )
            assert response.status_code == 200, response.text

        result = percentiles(await timed(call, iterations))
    label = "gateway + lineage only" if only_lineage else "all modules"
    print(f"  HTTP impact of a data source (downstream, depth 3), app with {label}: {result}", flush=True)
    return result


async def bench_ingest(url: str, flows: int) -> dict[str, Any]:
    from sqlalchemy import delete
    from tests.integration.lineage.flow import Flow

    from mlplatform.kernel.db import Database
    from mlplatform.kernel.events import Dispatcher
    from mlplatform.kernel.events.model import OutboxEvent
    from mlplatform.kernel.runtimes import Runtimes
    from mlplatform.modules.lineage.subscriber import lineage_subscriber
    from mlplatform.settings import OutboxSettings, Settings

    database = Database(url)

    class Context:
        settings = Settings(database_url=url)
        runtimes = Runtimes()

    async with database.transaction() as session:
        await session.execute(delete(OutboxEvent))
    flows_events = [Flow(project=PROJECTS[i % len(PROJECTS)]).events() for i in range(flows)]
    total = 0
    async with database.transaction() as session:
        # What `publish()` writes, with the payloads the publishing modules' event classes produce.
        for events in flows_events:
            for stored in events:
                session.add(
                    OutboxEvent(
                        event_type=stored.event_type,
                        aggregate_type=stored.aggregate_type,
                        aggregate_id=stored.aggregate_id,
                        project=stored.project,
                        occurred_at=stored.occurred_at,
                        payload=stored.payload,
                    )
                )
                total += 1
    dispatcher = Dispatcher(database, [lineage_subscriber(Context())], OutboxSettings(batch_size=500))  # type: ignore[arg-type]
    started = time.perf_counter()
    delivered = await dispatcher.run_until_idle()
    elapsed = time.perf_counter() - started
    await database.dispose()
    result = {
        "events": total,
        "delivered": delivered,
        "seconds": round(elapsed, 2),
        "events_per_s": round(delivered / elapsed, 1),
    }
    print(f"  ingest through the lineage subscriber: {result}", flush=True)
    return result


async def bench_emit(url: str) -> dict[str, Any]:
    from sqlalchemy import func, select, update
    from tests.integration.lineage.capture import capture_server

    from mlplatform.kernel.db import Database
    from mlplatform.modules.lineage.models import OpenLineageEventRow
    from mlplatform.modules.lineage.openlineage.emitter import OpenLineageEmitter
    from mlplatform.settings import LineageSettings

    database = Database(url)
    async with database.transaction() as session:
        await session.execute(update(OpenLineageEventRow).values(status="pending"))
        count = await session.scalar(select(func.count()).select_from(OpenLineageEventRow)) or 0
    with capture_server() as server:
        emitter = OpenLineageEmitter(database, server.url, LineageSettings(batch_size=200))
        started = time.perf_counter()
        sent = await emitter.run_until_idle()
        elapsed = time.perf_counter() - started
        await emitter.stop()
    await database.dispose()
    result = {"events": count, "sent": sent, "seconds": round(elapsed, 2), "events_per_s": round(sent / elapsed, 1)}
    print(f"  OpenLineage emission to a loopback server: {result}", flush=True)
    return result


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from mlplatform.kernel.migrations import upgrade

    name = f"mlplatform_bench_lineage_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(name, "postgresql+asyncpg")
    try:
        await asyncio.to_thread(upgrade, url)
        graph, starts = generate(args.pipelines)
        await load(database_url(name), graph)
        print(f"graph: {len(graph.nodes)} nodes, {len(graph.edges)} edges", flush=True)
        report: dict[str, Any] = {"nodes": len(graph.nodes), "edges": len(graph.edges)}
        report["queries_depth_3"] = await bench_queries(url, starts, args.iterations)
        report["http_depth_3"] = await bench_http(url, tmp / "all", starts, args.iterations)
        report["http_depth_3_lineage_only"] = await bench_http(
            url, tmp / "lineage", starts, args.iterations, only_lineage=True
        )
        if args.flows:
            report["ingest"] = await bench_ingest(url, args.flows)
            report["emission"] = await bench_emit(url)
        return report
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=450, help="22 nodes each (plus a shared source pool)")
    parser.add_argument("--iterations", type=int, default=500, help="queries per case")
    parser.add_argument("--flows", type=int, default=200, help="data flows (13 events each) for the ingest rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
