"""OpenLineage events built from the flow: valid against the 2-0-2 schemas, named by the conventions,
carrying the facets their data allows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.lineage.models import OpenLineageEventRow
from tests.integration.lineage.flow import Flow, apply_all
from tests.integration.lineage.schema import validate_run_event


async def stored_events(database: Database) -> list[OpenLineageEventRow]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(OpenLineageEventRow).order_by(OpenLineageEventRow.id))).all())


def by_job(rows: list[OpenLineageEventRow], prefix: str) -> list[dict[str, Any]]:
    return [row.body for row in rows if row.job_name.startswith(prefix)]


async def test_every_event_of_the_flow_validates(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    rows = await stored_events(database)
    assert [(r.job_name.split(".")[0], r.event_type) for r in rows] == [
        ("materialize", "START"),
        ("materialize", "COMPLETE"),
        ("validate", "START"),
        ("validate", "COMPLETE"),
        ("historical_retrieval", "START"),
        ("historical_retrieval", "COMPLETE"),
        ("train", "START"),
        ("train", "COMPLETE"),
        ("validate", "START"),
        ("validate", "COMPLETE"),
        ("deploy", "START"),
        ("deploy", "COMPLETE"),
    ]
    for row in rows:
        validate_run_event(row.body)
        assert row.status == "unsent"
        assert row.project == "fraud"
        assert row.job_namespace == "mlplatform/fraud"
        assert row.body["eventType"] == row.event_type
        assert row.body["run"]["runId"] == row.run_id


async def test_training_run_reads_the_dataset_and_outputs_the_model_version(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    start, complete = by_job(await stored_events(database), "train.")
    assert start["job"]["name"] == "train.fraud/baseline"
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert start["eventTime"].startswith("2026-11-27T09:07:00")
    assert complete["eventTime"].startswith("2026-11-27T09:09:00")
    inputs = {(d["namespace"], d["name"]) for d in complete["inputs"]}
    assert inputs == {("s3://lake", f"platform/datasets/{flow.dataset_id}.parquet")}
    dataset = complete["inputs"][0]
    assert dataset["facets"]["symlinks"]["identifiers"][0]["name"] == f"training_datasets/{flow.dataset_id}"
    assert [f["name"] for f in dataset["facets"]["schema"]["fields"]] == ["txn_count_7d", "amount_avg_7d"]
    (model,) = complete["outputs"]
    assert (model["namespace"], model["name"]) == ("mlplatform/fraud", "models/scorer/versions/1")
    assert model["facets"]["datasetType"]["datasetType"] == "MODEL"
    facet = model["facets"]["mlplatform_model"]
    assert facet["_schemaURL"].startswith("https://mlplatform.dev/spec/facets/1-0-0/MlplatformModelDatasetFacet.json")
    assert facet["_producer"].startswith("https://mlplatform.dev/")
    assert facet["versionId"] == flow.version_id
    assert facet["sourceRunId"] == flow.run_id
    assert facet["framework"] == "sklearn"
    assert {p["key"] for p in start["run"]["facets"]["executionParameters"]["parameters"]} >= {"max_depth"}


async def test_materialization_and_retrieval_name_physical_and_logical_datasets(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    rows = await stored_events(database)
    _, materialized = by_job(rows, "materialize.")
    assert materialized["job"]["name"] == "materialize.card_stats"
    assert [(d["namespace"], d["name"]) for d in materialized["inputs"]] == [("s3://lake", "raw/transactions.parquet")]
    assert materialized["inputs"][0]["facets"]["dataSource"] == {
        "_producer": materialized["producer"],
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
        "name": "s3://lake",
        "uri": "s3://lake",
    }
    (view,) = materialized["outputs"]
    assert (view["namespace"], view["name"]) == ("mlplatform/fraud", "feature_views/card_stats")
    assert [f["name"] for f in view["facets"]["schema"]["fields"]] == ["txn_count_7d", "amount_avg_7d"]
    assert view["outputFacets"]["outputStatistics"]["rowCount"] == 1200

    _, retrieval = by_job(rows, "historical_retrieval.")
    assert retrieval["job"]["name"] == "historical_retrieval.card_features"
    assert {(d["namespace"], d["name"]) for d in retrieval["inputs"]} == {
        ("mlplatform/fraud", "feature_views/card_stats"),
        ("mlplatform/fraud", "feature_services/card_features"),
    }
    assert retrieval["outputs"][0]["name"] == f"platform/datasets/{flow.dataset_id}.parquet"


@pytest.mark.parametrize(
    ("status", "terminal", "success"), [("passed", "COMPLETE", True), ("failed", "COMPLETE", False)]
)
async def test_validation_carries_data_quality_assertions(
    database: Database, status: str, terminal: str, success: bool
) -> None:
    flow = Flow()
    await apply_all(database, [flow.catalogue_version(), flow.validation(status)])
    start, end = by_job(await stored_events(database), "validate.")
    assert end["job"]["name"] == "validate.scorer.holdout-auc"
    assert end["eventType"] == terminal
    (model,) = end["inputs"]
    assertion = model["inputFacets"]["dataQualityAssertions"]["assertions"][0]
    assert {k: assertion[k] for k in ("assertion", "name", "severity", "success")} == {
        "assertion": "holdout-auc",
        "name": "holdout-auc",
        "severity": "error",
        "success": success,
    }
    assert end["outputs"][0]["namespace"] == "s3://lake"
    validate_run_event(start)
    validate_run_event(end)


async def test_failed_run_and_registration_after_the_run_ended(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.training_dataset(), flow.run_finished(status="FAILED"), flow.catalogue_version()])
    start, fail, other = by_job(await stored_events(database), "train.")
    assert (start["eventType"], fail["eventType"], other["eventType"]) == ("START", "FAIL", "OTHER")
    assert fail["run"]["facets"]["errorMessage"]["message"] == "MLflow run ended FAILED"
    assert fail["outputs"] == []
    assert other["run"]["runId"] == start["run"]["runId"]
    assert other["job"] == {k: start["job"][k] for k in ("namespace", "name", "facets")}
    assert other["outputs"][0]["name"] == "models/scorer/versions/1"
    for event in (start, fail, other):
        validate_run_event(event)


async def test_retired_deployment_drops_its_dataset(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.catalogue_version(), flow.deployed(change="retired")])
    _, end = by_job(await stored_events(database), "deploy.")
    output = end["outputs"][0]
    assert (output["namespace"], output["name"]) == ("mlplatform/fraud", "deployments/prod/scorer")
    assert output["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"
    validate_run_event(end)


async def test_pending_when_an_endpoint_is_configured(database: Database) -> None:
    await apply_all(database, Flow().events(), emit=True)
    assert {row.status for row in await stored_events(database)} == {"pending"}


async def test_the_validator_catches_broken_events(database: Database) -> None:
    await apply_all(database, Flow().events())
    event = (await stored_events(database))[-1].body
    broken_core = {k: v for k, v in event.items() if k != "producer"}
    with pytest.raises(AssertionError, match="producer"):
        validate_run_event(broken_core)
    unknown_facet = {**event, "run": {**event["run"], "facets": {"x": {"_producer": "p", "_schemaURL": "https://x/y"}}}}
    with pytest.raises(AssertionError, match="not a known schema"):
        validate_run_event(unknown_facet)
    bad_facet = {
        **event,
        "job": {**event["job"], "facets": {"jobType": {**event["job"]["facets"]["jobType"], "processingType": 3}}},
    }
    with pytest.raises(AssertionError, match="jobType"):
        validate_run_event(bad_facet)


async def test_feature_checks_carry_quality_facets(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.feature_view(), flow.feature_check("flagged")])
    start, end = by_job(await stored_events(database), "validate.feature_views.")
    assert end["job"]["name"] == "validate.feature_views.card_stats"
    (view,) = end["inputs"]
    assertions = view["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"]) for a in assertions] == [
        ("profile_expectations", False),
        ("rows_failed", False),
    ]
    assert view["inputFacets"]["dataQualityMetrics"]["rowCount"] == 1200
    assert end["outputs"][0]["name"] == f"validation_reports/{flow.feature_report}"
    validate_run_event(start)
    validate_run_event(end)


async def test_postgres_sources_and_job_times(database: Database) -> None:
    import uuid

    from mlplatform.kernel.jobs.model import KernelJob
    from mlplatform.modules.features import events as features
    from mlplatform.modules.lineage.openlineage.naming import PostgresLocation
    from mlplatform.modules.lineage.subscriber import apply_event
    from tests.integration.lineage.flow import from_domain

    flow = Flow()
    async with database.transaction() as session:
        session.add(
            KernelJob(
                id=uuid.UUID(flow.materialization_job),
                kind="features.materialize",
                project="fraud",
                status="succeeded",
                started_at=flow.at(3),
                finished_at=flow.at(4),
            )
        )
    table = from_domain(
        features.DataSourceApplied(
            aggregate_id="fraud/transactions", project="fraud", name="transactions", kind="postgres", table="raw.tx"
        )
    )
    location = PostgresLocation(host="db.internal", port=5433, database="platform")
    for event in (table, flow.feature_view(), flow.materialized()):
        async with database.transaction() as session:
            await apply_event(session, event, emit=False, postgres=location)
    start, complete = by_job(await stored_events(database), "materialize.")
    assert start["eventTime"].startswith("2026-11-27T09:03:00")
    assert complete["eventTime"].startswith("2026-11-27T09:04:00")
    (source,) = complete["inputs"]
    assert (source["namespace"], source["name"]) == ("postgres://db.internal:5433", "platform.raw.tx")
    assert source["facets"]["datasetType"]["datasetType"] == "TABLE"
    validate_run_event(complete)


async def test_failed_jobs_end_in_fail_on_the_same_jobs(database: Database) -> None:
    """JobFailed (kernel job runner) → START + FAIL with `errorMessage`, on the job names (and, for
    materializations and retrievals, the runId scheme) their COMPLETE uses."""
    from mlplatform.modules.lineage.openlineage.runs import run_id

    flow = Flow()
    materialize = flow.job_failed(
        "features.materialize",
        {"feature_views": ["card_stats"], "start": "2026-11-01T00:00:00+00:00", "end": None, "incremental": False},
    )
    retrieve = flow.job_failed(
        "features.historical",
        {
            "feature_service": "card_features",
            "features": ["card_stats:txn_count_7d", "card_stats:amount_avg_7d"],
            "entity_key": "features/fraud/entity-rows/x.parquet",
            "name": None,
        },
    )
    check = flow.job_failed("features.validate", {"feature_view": "card_stats", "start": None, "end": None})
    definitions = [flow.data_source(), flow.feature_view(), flow.feature_service()]
    await apply_all(database, [*definitions, flow.materialized(), materialize, retrieve, check])
    rows = await stored_events(database)
    failed = [row for row in rows if row.source_event_type == "JobFailed"]
    assert [(row.job_name, row.event_type) for row in failed] == [
        ("materialize.card_stats", "START"),
        ("materialize.card_stats", "FAIL"),
        ("historical_retrieval.card_features", "START"),
        ("historical_retrieval.card_features", "FAIL"),
        ("validate.feature_views.card_stats", "START"),
        ("validate.feature_views.card_stats", "FAIL"),
    ]
    completed = next(row for row in rows if row.source_event_type == "FeaturesMaterialized")
    assert completed.job_name == failed[0].job_name
    assert completed.run_id == run_id("job", flow.materialization_job)
    for row, source in zip(failed[::2], (materialize, retrieve, check), strict=True):
        assert row.run_id == run_id("job", source.aggregate_id)
    for row in failed:
        validate_run_event(row.body)
        assert row.body["outputs"] == []
    start, fail = failed[0].body, failed[1].body
    assert start["run"]["runId"] == fail["run"]["runId"]
    assert start["eventTime"].startswith("2026-11-27T09:03:00")
    assert fail["eventTime"].startswith("2026-11-27T09:04:00")
    assert fail["run"]["facets"]["errorMessage"] == {
        "_producer": fail["producer"],
        "_schemaURL": fail["run"]["facets"]["errorMessage"]["_schemaURL"],
        "message": "OSError: the offline store is unreachable (after 3 attempts)",
        "programmingLanguage": "python",
    }
    assert fail["job"]["facets"]["jobType"]["jobType"] == "MATERIALIZATION"
    assert [(d["namespace"], d["name"]) for d in fail["inputs"]] == [("s3://lake", "raw/transactions.parquet")]
    retrieval_fail = failed[3].body
    assert {(d["namespace"], d["name"]) for d in retrieval_fail["inputs"]} == {
        ("mlplatform/fraud", "feature_views/card_stats"),
        ("mlplatform/fraud", "feature_services/card_features"),
    }
    assert [d["name"] for d in failed[5].body["inputs"]] == ["feature_views/card_stats"]


async def test_jobs_of_other_kinds_are_ignored(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.job_failed("catalogue.reindex", {"model": "scorer"})])
    assert await stored_events(database) == []


@pytest.mark.parametrize(("status", "terminal"), [("FAILED", "FAIL"), ("KILLED", "ABORT")])
async def test_a_run_that_did_not_finish_ends_in_fail_or_abort(database: Database, status: str, terminal: str) -> None:
    flow = Flow()
    await apply_all(database, [flow.training_dataset(), flow.run_finished(status=status)])
    start, end = by_job(await stored_events(database), "train.")
    assert (start["eventType"], end["eventType"]) == ("START", terminal)
    assert end["run"]["facets"]["errorMessage"]["message"] == f"MLflow run ended {status}"
    validate_run_event(end)


async def test_mlflow_dataset_inputs_become_inputs_with_their_digest(database: Database) -> None:
    """A run that logged its training dataset with `mlflow.log_input` (source: the dataset's storage URI)
    and a holdout set for evaluation, and named nothing in params or tags."""
    from mlplatform.modules.experiments.events import DatasetInput

    flow = Flow()
    logged = [
        DatasetInput(
            name="train",
            digest="a1b2c3",
            source_type="s3",
            source=f'{{"uri": "{flow.dataset_uri}"}}',
            context="training",
        ),
        DatasetInput(
            name="holdout",
            digest="d4e5f6",
            source_type="s3",
            source='{"uri": "s3://lake/eval/holdout.parquet"}',
            context="validation",
        ),
        DatasetInput(name="dataset", digest="0f0f0f", source_type="code", source='{"tags": {"mlflow.user": "a"}}'),
    ]
    run = flow.run_finished(params={"max_depth": "6"}, dataset_inputs=logged)
    await apply_all(database, [flow.training_dataset(), run])
    _, complete = by_job(await stored_events(database), "train.")
    validate_run_event(complete)
    by_name = {(d["namespace"], d["name"]): d for d in complete["inputs"]}
    assert set(by_name) == {
        ("s3://lake", f"platform/datasets/{flow.dataset_id}.parquet"),
        ("s3://lake", "eval/holdout.parquet"),
    }
    dataset = by_name[("s3://lake", f"platform/datasets/{flow.dataset_id}.parquet")]
    assert dataset["facets"]["version"]["datasetVersion"] == "a1b2c3"
    assert dataset["facets"]["symlinks"]["identifiers"][0]["name"] == f"training_datasets/{flow.dataset_id}"
    holdout = by_name[("s3://lake", "eval/holdout.parquet")]
    assert holdout["facets"]["version"]["datasetVersion"] == "d4e5f6"
    assert "symlinks" not in holdout["facets"]


async def test_the_namespace_prefix_names_every_platform_object(database: Database) -> None:
    """`lineage.namespace`: jobs and platform-owned datasets move to `<prefix>/<project>`; data named
    where it lives (s3://, file, postgres://) keeps its physical namespace."""
    from mlplatform.modules.lineage.subscriber import apply_event

    flow = Flow()
    for event in flow.events():
        async with database.transaction() as session:
            await apply_event(session, event, emit=False, namespace="staging")
    rows = await stored_events(database)
    assert {row.job_namespace for row in rows} == {"staging/fraud"}
    namespaces = {dataset["namespace"] for row in rows for side in ("inputs", "outputs") for dataset in row.body[side]}
    assert namespaces == {"staging/fraud", "s3://lake"}
