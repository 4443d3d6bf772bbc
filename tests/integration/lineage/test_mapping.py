"""Domain events → graph: every mapped event type, redelivery, partial and odd payloads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from mlplatform.kernel.db import Database
from mlplatform.modules.lineage.models import LineageEdge, LineageNode, OpenLineageEventRow
from tests.integration.lineage.flow import Flow, apply_all, stored


async def graph(database: Database) -> tuple[dict[str, LineageNode], set[tuple[str, str, str]]]:
    async with database.sessionmaker() as session:
        nodes = {n.id: n for n in (await session.scalars(select(LineageNode))).all()}
        edges = (await session.scalars(select(LineageEdge))).all()
    named = {f"{n.type}:{n.key}": n for n in nodes.values()}
    triples = {
        (
            f"{nodes[e.source_id].type}:{nodes[e.source_id].key}",
            e.kind,
            f"{nodes[e.target_id].type}:{nodes[e.target_id].key}",
        )
        for e in edges
    }
    return named, triples


async def counts(database: Database) -> tuple[int, int, int]:
    async with database.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(LineageNode)) or 0,
            await session.scalar(select(func.count()).select_from(LineageEdge)) or 0,
            await session.scalar(select(func.count()).select_from(OpenLineageEventRow)) or 0,
        )


async def test_the_whole_flow_becomes_a_connected_graph(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    nodes, edges = await graph(database)

    source = "data_source:fraud/transactions"
    view = "feature_view:fraud/card_stats"
    service = "feature_service:fraud/card_features"
    dataset = f"training_dataset:{flow.dataset_id}"
    run = f"experiment_run:{flow.run_id}"
    version = "model_version:fraud/scorer/1"
    materialize = f"job:{flow.materialization_job}"
    retrieve = f"job:{flow.retrieval_job}"
    assert edges == {
        (source, "read", view),
        (view, "part_of", service),
        (materialize, "produced", view),
        (source, "read", materialize),
        (service, "read", dataset),
        (view, "read", dataset),
        (retrieve, "produced", dataset),
        (dataset, "trained_on", run),
        (run, "registered_as", version),
        (version, "version_of", "model:fraud/scorer"),
        (service, "read", version),
        (version, "validated_by", f"validation_report:{flow.validation_id}"),
        (view, "validated_by", f"validation_report:{flow.feature_report}"),
        (version, "deployed_as", f"deployment:{flow.deployment_id}"),
    }
    assert all(node.project == "fraud" for node in nodes.values())
    assert not any(node.placeholder for node in nodes.values())
    assert nodes[version].alias == flow.version_id
    assert nodes[version].attributes["stage"] == "production"
    assert nodes[version].attributes["model_uri"] == "models:/fraud.scorer/1"
    assert nodes[dataset].alias == flow.dataset_uri
    assert nodes[dataset].attributes["row_count"] == 5000
    assert nodes[run].name == "baseline-1"
    assert nodes[run].attributes["experiment_name"] == "fraud/baseline"
    assert nodes[run].attributes["status"] == "FINISHED"
    assert nodes[view].attributes["features"] == ["txn_count_7d", "amount_avg_7d"]
    assert nodes[dataset].attributes["columns"] == ["txn_count_7d", "amount_avg_7d"]
    assert nodes[f"validation_report:{flow.feature_report}"].attributes["status"] == "passed"
    deployment = nodes[f"deployment:{flow.deployment_id}"]
    assert deployment.name == "scorer@prod"
    assert deployment.attributes["environment"] == "prod"
    assert nodes[f"validation_report:{flow.validation_id}"].attributes["status"] == "passed"


async def project_counts(database: Database, project: str) -> tuple[int, int, int]:
    async with database.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).where(LineageNode.project == project)) or 0,
            await session.scalar(select(func.count()).where(LineageEdge.project == project)) or 0,
            await session.scalar(select(func.count()).where(OpenLineageEventRow.project == project)) or 0,
        )


async def test_redelivery_changes_nothing(database: Database) -> None:
    """A delivery whose transaction did not commit is delivered again: applying every event twice in a row
    leaves graph and OpenLineage log exactly as applying it once does."""
    await apply_all(database, [event for event in Flow(project="twice").events() for _ in range(2)], emit=True)
    await apply_all(database, Flow(project="once").events(), emit=True)
    once = await project_counts(database, "once")
    assert once == (12, 14, 12)
    assert await project_counts(database, "twice") == once


async def test_replays_in_any_order_give_the_same_graph(database: Database) -> None:
    events = Flow().events()
    await apply_all(database, events)
    nodes, edges = await graph(database)
    await apply_all(database, events)
    await apply_all(database, list(reversed(events)))
    again_nodes, again_edges = await graph(database)
    assert again_edges == edges
    assert {k: (v.project, v.name, v.alias, v.attributes) for k, v in again_nodes.items()} == {
        k: (v.project, v.name, v.alias, v.attributes) for k, v in nodes.items()
    }


async def test_events_out_of_order_leave_placeholders_that_fill_in(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.deployed(), flow.run_finished()])
    nodes, edges = await graph(database)
    version = nodes["model_version:fraud/scorer/1"]
    assert version.placeholder
    assert version.alias == flow.version_id
    assert nodes[f"training_dataset:{flow.dataset_id}"].placeholder
    assert ("model_version:fraud/scorer/1", "deployed_as", f"deployment:{flow.deployment_id}") in edges

    await apply_all(database, [flow.training_dataset(), flow.catalogue_version()])
    nodes, _ = await graph(database)
    assert not nodes["model_version:fraud/scorer/1"].placeholder
    assert nodes["model_version:fraud/scorer/1"].attributes["framework"] == "sklearn"
    assert not nodes[f"training_dataset:{flow.dataset_id}"].placeholder


async def test_a_run_naming_its_dataset_by_uri_is_folded_into_the_dataset(database: Database) -> None:
    flow = Flow()
    run = flow.run_finished()
    by_uri = stored(
        run.event_type,
        {
            **run.payload,
            "params": {},
            "dataset_inputs": [
                {"name": "train", "digest": "d1", "source_type": "s3", "source": f'{{"uri": "{flow.dataset_uri}"}}'}
            ],
        },
        project="fraud",
    )
    await apply_all(database, [by_uri])
    nodes, _ = await graph(database)
    assert f"training_dataset:{flow.dataset_uri}" in nodes

    await apply_all(database, [flow.training_dataset()])
    nodes, edges = await graph(database)
    assert f"training_dataset:{flow.dataset_uri}" not in nodes
    assert (f"training_dataset:{flow.dataset_id}", "trained_on", f"experiment_run:{flow.run_id}") in edges


async def test_a_redeployment_moves_the_deployed_as_edge(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.catalogue_version(), flow.deployed()])
    second = str(__import__("uuid").uuid4())
    await apply_all(database, [flow.deployed(version=2, version_id=second, change="updated")])
    nodes, edges = await graph(database)
    deployed = {e for e in edges if e[1] == "deployed_as"}
    assert deployed == {("model_version:fraud/scorer/2", "deployed_as", f"deployment:{flow.deployment_id}")}
    assert nodes[f"deployment:{flow.deployment_id}"].attributes["version"] == 2


async def test_a_redefined_feature_view_reads_its_new_source(database: Database) -> None:
    flow = Flow()
    await apply_all(database, [flow.data_source(), flow.feature_view()])
    await apply_all(database, [flow.feature_view(source="transactions_v2")])
    _, edges = await graph(database)
    assert {e for e in edges if e[2] == "feature_view:fraud/card_stats"} == {
        ("data_source:fraud/transactions_v2", "read", "feature_view:fraud/card_stats")
    }


async def test_run_linked_and_feature_service_tag(database: Database) -> None:
    flow = Flow()
    linked = stored(
        "experiments.RunLinked",
        {"run_id": flow.run_id, "experiment_id": "1", "model": "scorer", "version": 3, "catalogue_version_id": "v3"},
        project="fraud",
    )
    tagged = stored(
        "experiments.RunFinished",
        {
            "run_id": "r-2",
            "experiment_id": "1",
            "experiment_name": "fraud/x",
            "status": "FINISHED",
            "params": {},
            "tags": {"mlplatform.feature_service": "shared/card_features", "mlplatform.training_dataset": "a, b"},
        },
        project="fraud",
    )
    await apply_all(database, [linked, tagged])
    nodes, edges = await graph(database)
    assert (f"experiment_run:{flow.run_id}", "registered_as", "model_version:fraud/scorer/3") in edges
    assert nodes["model_version:fraud/scorer/3"].alias == "v3"
    assert ("feature_service:shared/card_features", "trained_on", "experiment_run:r-2") in edges
    assert nodes["feature_service:shared/card_features"].project == "shared"
    assert {e[0] for e in edges if e[2] == "experiment_run:r-2" and e[0].startswith("training_dataset")} == {
        "training_dataset:a",
        "training_dataset:b",
    }


async def test_incomplete_or_malformed_payloads_are_skipped_not_failed(database: Database) -> None:
    odd: list[dict[str, Any]] = [
        {"model": 3, "version": "x"},
        {"run_id": None},
        {"name": ["not", "a", "string"]},
        {},
    ]
    events = [
        stored(event_type, payload, project=project)
        for event_type in (
            "catalogue.ModelVersionCreated",
            "catalogue.ValidationRecorded",
            "catalogue.DeploymentChanged",
            "experiments.RunFinished",
            "experiments.RunLinked",
            "DataSourceApplied",
            "FeatureViewApplied",
            "FeatureServiceApplied",
            "FeatureDefinitionDeleted",
            "TrainingDatasetCreated",
            "FeaturesMaterialized",
            "ValidationReportCreated",
            "UnknownEvent",
        )
        for payload in odd
        for project in ("fraud", None)
    ]
    await apply_all(database, events, emit=True)
    assert await counts(database) == (0, 0, 0)


async def test_a_failed_job_is_a_job_node_with_status_failed(database: Database) -> None:
    flow = Flow()
    failed = flow.job_failed("features.materialize", {"feature_views": ["card_stats"], "start": None, "end": None})
    retrieval = flow.job_failed("features.historical", {"feature_service": "card_features", "features": []})
    definitions = [flow.data_source(), flow.feature_view(), flow.feature_service(), flow.materialized()]
    await apply_all(database, [*definitions, failed, failed, retrieval])  # the second: a redelivery
    nodes, edges = await graph(database)
    job = nodes[f"job:{failed.aggregate_id}"]
    assert job.name == "materialize card_stats"
    assert {k: job.attributes[k] for k in ("kind", "status", "attempts", "feature_views")} == {
        "kind": "features.materialize",
        "status": "failed",
        "attempts": 3,
        "feature_views": ["card_stats"],
    }
    assert job.attributes["error"] == "OSError: the offline store is unreachable"
    assert nodes[f"job:{flow.materialization_job}"].attributes["status"] == "succeeded"
    # It read the view's source and produced nothing.
    assert {e for e in edges if f"job:{failed.aggregate_id}" in e} == {
        ("data_source:fraud/transactions", "read", f"job:{failed.aggregate_id}")
    }
    assert {e for e in edges if f"job:{retrieval.aggregate_id}" in e} == {
        ("feature_service:fraud/card_features", "read", f"job:{retrieval.aggregate_id}")
    }
    assert await project_counts(database, "fraud") == (6, 6, 6)


async def test_mlflow_dataset_inputs_link_runs_by_uri_or_dataset_id(database: Database) -> None:
    from mlplatform.modules.experiments.events import DatasetInput

    flow = Flow()
    other = Flow()
    inputs = [
        DatasetInput(name="train", digest="1", source_type="s3", source=f'{{"uri": "{flow.dataset_uri}"}}'),
        DatasetInput(name=other.dataset_id, digest="2", source_type="code", source="{}", context="training"),
        DatasetInput(name="eval", digest="3", source_type="local", source="/data/holdout.csv", context="evaluation"),
        DatasetInput(name="dataset", digest="4", source_type="code", source='{"tags": {}}'),
    ]
    run = flow.run_finished(params={}, tags={"mlplatform.feature_service": "card_features"}, dataset_inputs=inputs)
    await apply_all(database, [flow.training_dataset(), run])
    nodes, edges = await graph(database)
    into_run = {(source, kind) for source, kind, target in edges if target == f"experiment_run:{flow.run_id}"}
    assert into_run == {
        (f"training_dataset:{flow.dataset_id}", "trained_on"),
        (f"training_dataset:{other.dataset_id}", "trained_on"),
        ("training_dataset:/data/holdout.csv", "read"),
        ("feature_service:fraud/card_features", "trained_on"),
    }
    assert nodes[f"training_dataset:{other.dataset_id}"].placeholder
