"""The fixtures every documented operation needs to be reachable, made through the API with the admin key.

Schemathesis fills each path parameter with the value `schemathesis.toml` fixes for it (`${CONTRACT_...}`
placeholders, filled from `Seeded.env()`); without these, an operation on `/models/{model}` only ever sees
404s and is "missing test data". Operations that destroy what they address (deletes, purge, cancels, disable)
get their own throwaway object, so that they succeed once and the rest of the run still finds the shared
fixtures; operations that overwrite what they address (PUT of a file or a definition) get a scratch object,
so that what they write cannot break the objects other operations read. The first `DELETE` of a throwaway
answers 204; later ones 404, which is right and not a warning.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.contract.seed_serving import ModelLogging, managed_deployment

PROJECT = "contract"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Seeded:
    """Names and ids of the fixtures, keyed by the `CONTRACT_*` placeholder that `schemathesis.toml` uses."""

    values: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {f"CONTRACT_{key.upper()}": value for key, value in self.values.items()}


class Seeder:
    def __init__(self, base_url: str, admin_key: str, workdir: Path) -> None:
        self.workdir = workdir
        """Where fixtures that are files, not API objects, are written (a Parquet batch to push)."""
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=300)
        self.seeded = Seeded()

    def call(self, method: str, path: str, expect: int | set[int], **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        allowed = {expect} if isinstance(expect, int) else expect
        assert response.status_code in allowed, f"seeding {method} {path}: {response.status_code} {response.text}"
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else None

    def keep(self, **values: object) -> None:
        self.seeded.values.update({key: str(value) for key, value in values.items()})

    # ------------------------------------------------------------------ gateway: projects, principals, keys

    def gateway(self) -> None:
        for name in (PROJECT, "contract-doomed", "contract-purged", "contract-grantee"):
            self.call("POST", "/api/v1/projects", 201, json={"name": name})
        for user in ("contract-dev", "contract-lead", "contract-doomed-member", "contract-doomed-user"):
            self.call("POST", "/api/v1/users", 201, json={"name": user})
        self.call("POST", "/api/v1/service-accounts", 201, json={"name": "contract-sa"})
        for member, role in (
            ("user:contract-dev", "contributor"),
            ("user:contract-lead", "maintainer"),
            ("user:contract-doomed-member", "viewer"),
            ("service_account:contract-sa", "viewer"),
        ):
            self.call("PUT", f"/api/v1/projects/{PROJECT}/members/{member}", {200, 201}, json={"role": role})
        doomed_key = self.call(
            "POST", "/api/v1/api-keys", 201, json={"name": "doomed", "owner": "service_account:contract-sa"}
        )
        token_client = self.call(
            "POST", "/api/v1/api-keys", 201, json={"name": "token-client", "owner": "service_account:contract-sa"}
        )
        self.keep(
            client_id="contract-sa",
            client_secret=token_client["key"],
            project=PROJECT,
            doomed_project="contract-doomed",
            purged_project="contract-purged",
            grantee_project="contract-grantee",
            member="user:contract-dev",
            doomed_member="user:contract-doomed-member",
            doomed_user="contract-doomed-user",
            doomed_api_key=doomed_key["id"],
        )

    def key_for(self, owner: str) -> dict[str, str]:
        created = self.call("POST", "/api/v1/api-keys", 201, json={"name": "seed", "owner": owner, "project": PROJECT})
        return {"Authorization": f"Bearer {created['key']}"}

    # ------------------------------------------------------------------ catalogue: models, versions, deployments

    def catalogue(self) -> None:
        p = f"/api/v1/projects/{PROJECT}"
        dev = self.key_for("user:contract-dev")
        self.call(
            "POST",
            f"{p}/models",
            201,
            json={"name": "scorer", "tags": {"team": "risk"}, "approval_policy": {"production": 1}},
        )
        for n in (1, 2, 3, 4):
            self.call("POST", f"{p}/models/scorer/versions", 201, json={"model_uri": f"s3://models/scorer/{n}"})
        for version in (2, 3, 4):
            for stage in ("validated", "staging"):
                self.call("POST", f"{p}/models/scorer/versions/{version}/transitions", 200, json={"to_stage": stage})
        # Version 2: production requested by a contributor, for the maintainers' (admin's) decision.
        # Version 3: a pending request to cancel. Version 4: deployed.
        for version in (2, 3):
            self.call(
                "POST",
                f"{p}/models/scorer/versions/{version}/transitions",
                202,
                json={"to_stage": "production"},
                headers=dev,
            )
        pending = self.call("GET", f"{p}/models/scorer/versions/3/transition-requests", 200)
        deployment = self.call(
            "POST",
            f"{p}/deployments",
            201,
            json={"model": "scorer", "version": 4, "environment": "staging", "target": "https://serving/scorer"},
        )
        rules = f"{p}/deployments/{deployment['id']}/rules"
        rule = self.call(
            "POST", rules, 201, json={"name": "latency", "metric": "p99_ms", "operator": "gt", "threshold": 250}
        )
        doomed_rule = self.call(
            "POST", rules, 201, json={"name": "errors", "metric": "error_rate", "operator": "gt", "threshold": 0.1}
        )
        self.keep(
            model="scorer",
            version=1,
            decided_version=2,
            cancelled_version=3,
            transition_request=pending["items"][0]["id"],
            deployment=deployment["id"],
            rule=rule["id"],
            doomed_rule=doomed_rule["id"],
        )

    # ------------------------------------------------------------------ files and features

    def files(self) -> None:
        import pandas as pd

        frame = pd.DataFrame(
            {
                "card_id": pd.Series([1, 2, 3], dtype="int64"),
                "event_timestamp": [T0 + timedelta(hours=h) for h in (0, 1, 2)],
                "txn_count": pd.Series([3, 8, 1], dtype="int64"),
            }
        )
        parquet = io.BytesIO()
        frame.to_parquet(parquet, index=False)
        files = f"/api/v1/projects/{PROJECT}/files"
        self.call("PUT", f"{files}/raw/cards.parquet", {200, 201}, content=parquet.getvalue())
        self.call("PUT", f"{files}/notes/doomed.txt", {200, 201}, content=b"to be deleted")
        batch = self.workdir / "push-batch.parquet"
        frame.to_parquet(batch, index=False)  # rows of the push source `card_push` (its batch source's columns)
        self.keep(
            file="raw/cards.parquet", doomed_file="notes/doomed.txt", scratch_file="notes/scratch.txt", push_batch=batch
        )

    def features(self) -> None:
        f = f"/api/v1/projects/{PROJECT}/features"
        for kind, body in (
            ("entities", {"name": "card", "join_key": "card_id"}),
            ("entities", {"name": "doomed_entity"}),
            ("entities", {"name": "scratch_entity"}),
            (
                "data-sources",
                {"name": "cards", "kind": "parquet", "path": "raw/cards.parquet", "timestamp_field": "event_timestamp"},
            ),
            (
                "data-sources",
                {
                    "name": "doomed_source",
                    "kind": "parquet",
                    "path": "raw/cards.parquet",
                    "timestamp_field": "event_timestamp",
                },
            ),
            ("data-sources", {"name": "card_push", "kind": "push", "batch_source": "cards"}),
            (
                "data-sources",
                {
                    "name": "scratch_source",
                    "kind": "parquet",
                    "path": "raw/cards.parquet",
                    "timestamp_field": "event_timestamp",
                },
            ),
            (
                "feature-views",
                {
                    "name": "card_stats",
                    "entities": ["card"],
                    "features": [{"name": "txn_count", "dtype": "int64"}],
                    "source": "cards",
                },
            ),
            (
                "feature-views",
                {
                    "name": "doomed_view",
                    "entities": ["card"],
                    "features": [{"name": "txn_count", "dtype": "int64"}],
                    "source": "cards",
                },
            ),
            (
                "feature-views",
                {
                    "name": "card_live",
                    "entities": ["card"],
                    "features": [{"name": "txn_count", "dtype": "int64"}],
                    "source": "card_push",
                },
            ),
            (
                "feature-views",
                {
                    "name": "scratch_view",
                    "entities": ["card"],
                    "features": [{"name": "txn_count", "dtype": "int64"}],
                    "source": "cards",
                },
            ),
            ("feature-services", {"name": "card_features", "features": ["card_stats"]}),
            ("feature-services", {"name": "scratch_service", "features": ["card_stats"]}),
            ("feature-services", {"name": "doomed_service", "features": ["card_stats"]}),
        ):
            self.call("POST", f"{f}/{kind}", 201, json=body)
        self.keep(
            entity="card",
            doomed_entity="doomed_entity",
            data_source="cards",
            push_source="card_push",
            doomed_data_source="doomed_source",
            feature_view="card_stats",
            doomed_feature_view="doomed_view",
            feature_service="card_features",
            doomed_feature_service="doomed_service",
            scratch_entity="scratch_entity",
            scratch_data_source="scratch_source",
            scratch_feature_view="scratch_view",
            scratch_feature_service="scratch_service",
        )

    def jobs(self) -> None:
        """A training dataset and a validation report (run by a worker while seeding), and a job left queued
        (no worker runs during the contract run) for the cancel operation."""
        f = f"/api/v1/projects/{PROJECT}/features"
        entity_rows = [{"card_id": 1, "event_timestamp": (T0 + timedelta(hours=3)).isoformat()}]
        historical = self.call(
            "POST", f"{f}/historical", 202, json={"feature_service": "card_features", "entity_rows": entity_rows}
        )
        dataset = self.finished(historical["id"])["result"]["dataset_id"]
        validation = self.call("POST", f"{f}/feature-views/card_stats/validations", 202, json={})
        self.finished(validation["id"])
        reports = self.call("GET", f"{f}/feature-views/card_stats/validations", 200)
        self.keep(job=historical["id"], dataset=dataset, validation_report=reports["items"][0]["id"])

    def queued_job(self) -> None:
        f = f"/api/v1/projects/{PROJECT}/features"
        queued = self.call("POST", f"{f}/materializations", 202, json={"feature_views": ["card_stats"]})
        self.keep(queued_job=queued["id"])

    def finished(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.call("GET", f"/api/v1/jobs/{job_id}", 200)
            if job["status"] in {"succeeded", "failed", "cancelled"}:
                assert job["status"] == "succeeded", job
                return dict(job)
            time.sleep(0.2)
        raise AssertionError(f"seeding: job {job_id} did not finish")

    # ------------------------------------------------------------------ connections

    def connections(self, lake: dict[str, str]) -> None:
        """Two connections to the `lake` bucket (reachable: the platform checks a connection on create)."""
        for name in ("warehouse", "doomed_connection"):
            self.call("POST", "/api/v1/connections", 201, json={"name": name, "kind": "s3", **lake})
        for project in (PROJECT, "contract-grantee"):
            self.call("POST", "/api/v1/connections/warehouse/grants", {200, 201}, json={"project": project})
        self.keep(connection="warehouse", doomed_connection="doomed_connection")
        self.keep(**{f"lake_{field}": value for field, value in lake.items()})

    # ------------------------------------------------------------------ experiments (MLflow's REST API) and lineage

    def experiments(self) -> None:
        """The first MLflow call waits for the platform to load MLflow's server (a minute on a busy machine)."""
        mlflow = "/mlflow/api/2.0/mlflow"
        experiment = self.call("POST", f"{mlflow}/experiments/create", 200, json={"name": f"{PROJECT}/contract"})
        experiment_id = experiment["experiment_id"]
        run = self.call(
            "POST", f"{mlflow}/runs/create", 200, json={"experiment_id": experiment_id, "start_time": 1_760_000_000_000}
        )
        run_id = run["run"]["info"]["run_id"]
        self.call(
            "POST",
            f"{mlflow}/runs/log-metric",
            200,
            json={"run_id": run_id, "key": "auc", "value": 0.9, "timestamp": 1_760_000_000_000, "step": 1},
        )
        runs = f"/api/v1/projects/{PROJECT}/runs/{run_id}"
        self.eventually(f"{runs}")
        link = self.call("POST", f"{runs}/links", 201, json={"model": "scorer", "version": 1})
        doomed_link = self.call("POST", f"{runs}/links", 201, json={"model": "scorer", "version": 4})
        self.keep(experiment=experiment_id, run=run_id, metric="auc", link=link["id"], doomed_link=doomed_link["id"])

    def lineage(self) -> None:
        node = f"model_version:{PROJECT}/scorer/4"
        self.eventually("/api/v1/lineage", params={"node": node})
        self.keep(lineage_node=node)

    def eventually(self, path: str, **kwargs: Any) -> None:
        """Wait for something the platform records asynchronously (MLflow mirror, lineage outbox)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.http.get(path, **kwargs).status_code == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"seeding: {path} {kwargs} never answered 200")


def seed_with_worker(base_url: str, admin_key: str, lake: dict[str, str], workdir: Path) -> Seeder:
    """Everything but the queued job (call `queued_job` once the worker is gone)."""
    seeder = Seeder(base_url, admin_key, workdir)
    seeder.gateway()
    logging = ModelLogging(base_url, admin_key, PROJECT, lake["endpoint_url"])  # runs while the rest is seeded
    seeder.catalogue()
    seeder.files()
    seeder.features()
    seeder.jobs()
    seeder.connections(lake)
    seeder.experiments()
    seeder.lineage()
    managed_deployment(seeder, PROJECT, logging)
    return seeder
