"""Catalogue search vs MLflow's model registry, on the same PostgreSQL with the same data.

Loads 10,000 models / 100,000 versions (with tags) into the platform's schema and the same models,
versions and tags into MLflow 3.17.2's registry tables (schema `mlflow` of the same database, created
by MLflow's own `SqlAlchemyStore`), both with COPY. Then measures, per call, p50 and p99 of

- search with 3 tag filters (100 results max, name order): `ModelService.search_models` vs
  `SqlAlchemyStore.search_registered_models("tags.a = '..' AND tags.b = '..' AND tags.c = '..'")`;
- get by name: `ModelService.get_model` vs `SqlAlchemyStore.get_registered_model`;
- the same two catalogue calls through the HTTP API in process (authentication, RBAC, JSON).

The service calls each run in their own transaction, as a request would. MLflow's calls run
in-process on its own engine (as the tracking server runs them). Rounds alternate catalogue and
MLflow so machine noise hits both.

    uv run python bench/catalogue_search.py [--models 10000] [--versions 10] [--iterations 300] [--rounds 2]

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ADMIN_URL = os.environ.get("MLPLATFORM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PROJECT = "bench"
ADMIN_KEY = "bench-catalogue-admin-key-0123456789"
TEAMS = [f"team-{i:02d}" for i in range(20)]
DOMAINS = ["cards", "loans", "ads", "search", "vision", "speech", "pricing", "risk", "supply", "support"]
TIERS = ["t0", "t1", "t2", "t3"]
REGIONS = ["eu", "us", "apac", "latam", "mea"]
FRAMEWORKS = ["sklearn", "xgboost", "pytorch", "lightgbm", "tensorflow"]
MLFLOW_STAGES = {"archived": "Archived", "staging": "Staging", "production": "Production"}


def database_url(name: str, driver: str = "postgresql") -> str:
    parts = urlsplit(ADMIN_URL)
    return parts._replace(scheme=driver, path=f"/{name}").geturl()


def model_tags(rng: random.Random) -> dict[str, str]:
    return {
        "team": rng.choice(TEAMS),
        "domain": rng.choice(DOMAINS),
        "tier": rng.choice(TIERS),
        "region": rng.choice(REGIONS),
        "cost_center": f"cc-{rng.randrange(100):03d}",
    }


def generate(models: int, versions: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    model_rows, version_rows = [], []
    for i in range(models):
        created = base + timedelta(minutes=i)
        tags = model_tags(rng)
        model = {
            "id": uuid.uuid4(),
            "name": f"model-{i:05d}",
            "description": f"{tags['domain']} model {i} owned by {tags['team']}",
            "owner": f"user:{tags['team']}-lead",
            "tags": tags,
            "created": created,
            "versions": versions,
        }
        model_rows.append(model)
        for number in range(1, versions + 1):
            stage = "production" if number == versions - 1 else "staging" if number == versions else "archived"
            run_id = uuid.uuid4().hex
            version_rows.append(
                {
                    "id": uuid.uuid4(),
                    "model": model,
                    "version": number,
                    "stage": stage,
                    "run_id": run_id,
                    "source": f"runs:/{run_id}/model",
                    "framework": rng.choice(FRAMEWORKS),
                    "tags": {"dataset": f"ds-{rng.randrange(50)}", "git_sha": run_id[:10], "trainer": "ci"},
                    "created": created + timedelta(seconds=number),
                }
            )
    return model_rows, version_rows


async def load_platform(conn: asyncpg.Connection, models: list[dict[str, Any]], versions: list[dict[str, Any]]) -> None:
    await conn.copy_records_to_table(
        "catalogue_models",
        schema_name="mlplatform",
        columns=[
            "id",
            "project",
            "name",
            "description",
            "owner",
            "task_type",
            "tags",
            "required_validations",
            "approval_policy",
            "latest_version",
            "created_by",
            "revision",
            "created_at",
            "updated_at",
        ],
        records=[
            (
                m["id"],
                PROJECT,
                m["name"],
                m["description"],
                m["owner"],
                "classification",
                json.dumps(m["tags"]),
                "[]",
                "{}",
                m["versions"],
                m["owner"],
                1,
                m["created"],
                m["created"],
            )
            for m in models
        ],
    )
    await conn.copy_records_to_table(
        "catalogue_model_versions",
        schema_name="mlplatform",
        columns=[
            "id",
            "model_id",
            "project",
            "version",
            "stage",
            "description",
            "source_type",
            "source_run_id",
            "mlflow_version",
            "model_uri",
            "framework",
            "signature",
            "metrics",
            "params",
            "tags",
            "feature_service",
            "feast_project",
            "created_by",
            "stage_changed_at",
            "revision",
            "created_at",
            "updated_at",
        ],
        records=[
            (
                v["id"],
                v["model"]["id"],
                PROJECT,
                v["version"],
                v["stage"],
                "",
                "mlflow",
                v["run_id"],
                str(v["version"]),
                v["source"],
                v["framework"],
                None,
                '{"auc": 0.9}',
                '{"depth": "6"}',
                json.dumps(v["tags"]),
                None,
                None,
                v["model"]["owner"],
                v["created"],
                1,
                v["created"],
                v["created"],
            )
            for v in versions
        ],
    )


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def load_mlflow(conn: asyncpg.Connection, models: list[dict[str, Any]], versions: list[dict[str, Any]]) -> None:
    await conn.copy_records_to_table(
        "registered_models",
        schema_name="mlflow",
        columns=["name", "creation_time", "last_updated_time", "description", "workspace"],
        records=[(m["name"], millis(m["created"]), millis(m["created"]), m["description"], "default") for m in models],
    )
    await conn.copy_records_to_table(
        "registered_model_tags",
        schema_name="mlflow",
        columns=["key", "value", "name", "workspace"],
        records=[(k, v, m["name"], "default") for m in models for k, v in m["tags"].items()],
    )
    await conn.copy_records_to_table(
        "model_versions",
        schema_name="mlflow",
        columns=[
            "name",
            "version",
            "creation_time",
            "last_updated_time",
            "description",
            "user_id",
            "current_stage",
            "source",
            "run_id",
            "status",
            "status_message",
            "run_link",
            "storage_location",
            "workspace",
        ],
        records=[
            (
                v["model"]["name"],
                v["version"],
                millis(v["created"]),
                millis(v["created"]),
                "",
                v["model"]["owner"],
                MLFLOW_STAGES[v["stage"]],
                v["source"],
                v["run_id"],
                "READY",
                None,
                None,
                v["source"],
                "default",
            )
            for v in versions
        ],
    )
    await conn.copy_records_to_table(
        "model_version_tags",
        schema_name="mlflow",
        columns=["key", "value", "name", "version", "workspace"],
        records=[
            (k, val, v["model"]["name"], v["version"], "default") for v in versions for k, val in v["tags"].items()
        ],
    )


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
        "n": len(ordered),
    }


async def time_async(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def time_sync(calls: list[Callable[[], Any]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def filter_string(tags: dict[str, str]) -> str:
    return " AND ".join(f"tags.{key} = '{value}'" for key, value in tags.items())


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from litestar.testing import AsyncTestClient

    from mlplatform.app import create_app
    from mlplatform.kernel.db import Database
    from mlplatform.kernel.migrations import upgrade
    from mlplatform.modules.catalogue import module as catalogue
    from mlplatform.modules.catalogue.repositories import ModelFilters
    from mlplatform.modules.catalogue.services.models import ModelService
    from mlplatform.modules.gateway import module as gateway
    from mlplatform.settings import Settings

    name = f"mlplatform_bench_catalogue_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    report: dict[str, Any] = {"models": args.models, "versions": args.models * args.versions}
    try:
        platform_url = database_url(name, "postgresql+asyncpg")
        started = time.perf_counter()
        await asyncio.to_thread(upgrade, platform_url)
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

        store = await asyncio.to_thread(SqlAlchemyStore, database_url(name) + "?options=-csearch_path%3Dmlflow")
        print(f"schemas ready in {time.perf_counter() - started:.1f}s", flush=True)

        models, versions = generate(args.models, args.versions)
        started = time.perf_counter()
        conn = await asyncpg.connect(database_url(name))
        try:
            await load_platform(conn, models, versions)
            await load_mlflow(conn, models, versions)
            # Steady state, as autovacuum leaves it: statistics and visibility maps for both schemas.
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        report["load_seconds"] = round(time.perf_counter() - started, 1)
        print(
            f"loaded {len(models)} models / {len(versions)} versions into both in {report['load_seconds']}s", flush=True
        )

        rng = random.Random(11)
        probes = [rng.choice(models) for _ in range(args.iterations)]
        combos = [{k: m["tags"][k] for k in ("team", "domain", "tier")} for m in probes]
        names = [m["name"] for m in probes]

        database = Database(platform_url, pool_size=4)
        settings = Settings(
            database_url=platform_url,
            data_dir=Path(args.data_dir),
            bootstrap_admin_key=ADMIN_KEY,
            log_json=False,
            log_level="WARNING",
        )
        app = create_app(settings, modules=[gateway, catalogue])
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        results: dict[str, list[float]] = {}
        counts: dict[str, list[int]] = {"platform": [], "mlflow": []}

        async def ours_search(tags: dict[str, str]) -> None:
            async with database.transaction() as session:
                page = await ModelService(session, "bench").search_models(
                    PROJECT, ModelFilters(tags=tags), sort="name", cursor=None, limit=100
                )
                counts["platform"].append(len(page.items))

        async def ours_get(model: str) -> None:
            async with database.transaction() as session:
                await ModelService(session, "bench").get_model(PROJECT, model)

        def mlflow_search(tags: dict[str, str]) -> None:
            counts["mlflow"].append(len(store.search_registered_models(filter_string(tags), max_results=100)))

        async with AsyncTestClient(app) as client:
            created = await client.post("/api/v1/projects", json={"name": PROJECT}, headers=headers)
            assert created.status_code in {201, 409}, created.text
            probe = await client.get(f"/api/v1/projects/{PROJECT}/models/{names[0]}", headers=headers)
            assert probe.status_code == 200, probe.text

            async def http_search(tags: dict[str, str]) -> None:
                params = [("tag", f"{k}:{v}") for k, v in tags.items()] + [("limit", "100")]
                response = await client.get(f"/api/v1/projects/{PROJECT}/models", params=params, headers=headers)
                assert response.status_code == 200, response.text

            async def http_get(model: str) -> None:
                response = await client.get(f"/api/v1/projects/{PROJECT}/models/{model}", headers=headers)
                assert response.status_code == 200, response.text

            # Warm-up: connection pools, statement caches, MLflow's lazy imports.
            for i in range(min(30, args.iterations)):
                await ours_search(combos[i])
                await ours_get(names[i])
                await http_search(combos[i])
                await http_get(names[i])
                mlflow_search(combos[i])
                store.get_registered_model(names[i])
            counts = {"platform": [], "mlflow": []}
            for round_number in range(args.rounds):
                print(f"round {round_number + 1}/{args.rounds}", flush=True)
                for key, samples in (
                    ("platform_search", await time_async([lambda t=t: ours_search(t) for t in combos])),
                    ("mlflow_search", time_sync([lambda t=t: mlflow_search(t) for t in combos])),
                    ("platform_get", await time_async([lambda n=n: ours_get(n) for n in names])),
                    ("mlflow_get", time_sync([lambda n=n: store.get_registered_model(n) for n in names])),
                    ("http_search", await time_async([lambda t=t: http_search(t) for t in combos])),
                    ("http_get", await time_async([lambda n=n: http_get(n) for n in names])),
                ):
                    results.setdefault(key, []).extend(samples)
        assert counts["platform"] == counts["mlflow"], "both must find the same models"
        report["matches_per_search"] = {
            "mean": round(statistics.fmean(counts["platform"]), 1),
            "max": max(counts["platform"]),
        }
        report["timings_ms"] = {key: {k: round(v, 2) for k, v in summary(s).items()} for key, s in results.items()}
        for what in ("search", "get"):
            ours, theirs = report["timings_ms"][f"platform_{what}"], report["timings_ms"][f"mlflow_{what}"]
            report[f"{what}_ratio_p50"] = round(ours["p50"] / theirs["p50"], 4)
            report[f"{what}_ratio_p99"] = round(ours["p99"] / theirs["p99"], 4)
        if args.explain:
            async with database.transaction() as session:
                from sqlalchemy import text

                plan = await session.execute(
                    text(
                        "EXPLAIN (ANALYZE, BUFFERS) SELECT id, name FROM catalogue_models WHERE project = :p "
                        "AND tags @> CAST(:t AS JSONB) ORDER BY name LIMIT 101"
                    ),
                    {"p": PROJECT, "t": json.dumps(combos[0])},
                )
                report["search_plan"] = [row[0] for row in plan]
        await database.dispose()
        store.engine.dispose()
    finally:
        if not args.keep:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    return report


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=10, help="versions per model")
    parser.add_argument("--iterations", type=int, default=300, help="calls per measurement and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--explain", action="store_true", help="print the search query plan")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        args.data_dir = data_dir
        report = asyncio.run(run(args))
    timings = report["timings_ms"]
    print()
    print(
        f"{report['models']} models / {report['versions']} versions; 3-tag searches match "
        f"{report['matches_per_search']['mean']} models on average (max {report['matches_per_search']['max']})"
    )
    print(f"{'call':34} {'p50 ms':>9} {'p99 ms':>9}")
    rows = [
        ("search, catalogue service", "platform_search"),
        ("search, MLflow SqlAlchemyStore", "mlflow_search"),
        ("search, catalogue HTTP API", "http_search"),
        ("get by name, catalogue service", "platform_get"),
        ("get by name, MLflow SqlAlchemyStore", "mlflow_get"),
        ("get by name, catalogue HTTP API", "http_get"),
    ]
    for label, key in rows:
        print(f"{label:34} {timings[key]['p50']:9.2f} {timings[key]['p99']:9.2f}")
    print(f"ratio catalogue/MLflow  search p50 {report['search_ratio_p50']:.3f}  p99 {report['search_ratio_p99']:.3f}")
    print(f"ratio catalogue/MLflow  get    p50 {report['get_ratio_p50']:.3f}  p99 {report['get_ratio_p99']:.3f}")
    for line in report.get("search_plan", []):
        print("   ", line)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
