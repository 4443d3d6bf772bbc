"""Graph queries: directions, depth, bad input, and who sees what (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Invalid, NotFound
from mlplatform.modules.experiments.api import RunFinished
from mlplatform.modules.features.api import FeatureViewApplied, TrainingDatasetCreated
from mlplatform.modules.lineage.access import Visibility
from mlplatform.modules.lineage.schemas import LineageGraph
from mlplatform.modules.lineage.services import LineageService
from tests.integration.lineage.flow import Flow, apply_all, from_domain, stored

ADMIN = Visibility(everything=True, any_project=True, projects=())
FRAUD = Visibility(everything=False, any_project=False, projects=("fraud",))


async def query(
    database: Database, node: str, *, depth: int | None = None, direction: str | None = None, who: Visibility = ADMIN
) -> LineageGraph:
    async with database.sessionmaker() as session:
        return await LineageService(session, who).graph(node, depth=depth, direction=direction)


def ids(result: LineageGraph) -> set[str]:
    return {node.id for node in result.nodes}


async def test_provenance_of_a_deployment(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    result = await query(database, f"deployment:{flow.deployment_id}", depth=10, direction="upstream")
    assert result.root == f"deployment:{flow.deployment_id}"
    assert ids(result) == {
        f"deployment:{flow.deployment_id}",
        "model_version:fraud/scorer/1",
        f"experiment_run:{flow.run_id}",
        f"training_dataset:{flow.dataset_id}",
        "feature_service:fraud/card_features",
        "feature_view:fraud/card_stats",
        "data_source:fraud/transactions",
        f"job:{flow.materialization_job}",
        f"job:{flow.retrieval_job}",
    }
    by_id = {n.id: n for n in result.nodes}
    assert by_id[f"deployment:{flow.deployment_id}"].relation == "root"
    assert by_id["model_version:fraud/scorer/1"].distance == 1
    assert by_id[f"experiment_run:{flow.run_id}"].distance == 2
    assert by_id["data_source:fraud/transactions"].distance == 4  # via the version's serving feature service
    assert all(n.relation == "upstream" for n in result.nodes[1:])
    assert (f"training_dataset:{flow.dataset_id}", "trained_on", f"experiment_run:{flow.run_id}") in {
        (e.source, e.kind, e.target) for e in result.edges
    }


async def test_impact_of_a_feature_view(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    result = await query(database, "feature_view:fraud/card_stats", depth=10, direction="downstream")
    assert ids(result) == {
        "feature_view:fraud/card_stats",
        "feature_service:fraud/card_features",
        f"training_dataset:{flow.dataset_id}",
        f"experiment_run:{flow.run_id}",
        "model_version:fraud/scorer/1",
        "model:fraud/scorer",
        f"validation_report:{flow.validation_id}",
        f"validation_report:{flow.feature_report}",
        f"deployment:{flow.deployment_id}",
    }
    kinds = {(e.source.split(":")[0], e.kind, e.target.split(":")[0]) for e in result.edges}
    assert ("model_version", "deployed_as", "deployment") in kinds
    assert ("feature_service", "read", "model_version") in kinds


async def test_depth_bounds_the_walk_and_both_joins_the_two_sides(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    run = f"experiment_run:{flow.run_id}"
    one = await query(database, run, depth=1)
    assert ids(one) == {run, f"training_dataset:{flow.dataset_id}", "model_version:fraud/scorer/1"}
    assert {(n.id, n.relation) for n in one.nodes} >= {
        (f"training_dataset:{flow.dataset_id}", "upstream"),
        ("model_version:fraud/scorer/1", "downstream"),
    }
    two = await query(database, run, depth=2, direction="both")
    assert "model:fraud/scorer" in ids(two)
    assert "feature_view:fraud/card_stats" in ids(two)
    assert "data_source:fraud/transactions" not in ids(two)
    default = await query(database, run)
    assert default.depth == 5
    assert default.direction == "both"


async def test_nodes_are_found_by_alias(database: Database) -> None:
    flow = Flow()
    await apply_all(database, flow.events())
    by_uuid = await query(database, f"model_version:{flow.version_id}", depth=1, direction="downstream")
    assert by_uuid.root == "model_version:fraud/scorer/1"
    by_uri = await query(database, f"training_dataset:{flow.dataset_uri}", depth=1, direction="upstream")
    assert by_uri.root == f"training_dataset:{flow.dataset_id}"


@pytest.mark.parametrize(
    ("node", "depth", "direction", "parameter"),
    [
        ("feature_view", None, None, "node"),
        ("nonsense:x", None, None, "node"),
        (":x", None, None, "node"),
        ("feature_view:", None, None, "node"),
        ("feature_view:fraud/card_stats", 0, None, "depth"),
        ("feature_view:fraud/card_stats", 11, None, "depth"),
        ("feature_view:fraud/card_stats", None, "sideways", "direction"),
    ],
)
async def test_bad_input_is_invalid(
    database: Database, node: str, depth: int | None, direction: str | None, parameter: str
) -> None:
    await apply_all(database, Flow().events())
    with pytest.raises(Invalid) as raised:
        await query(database, node, depth=depth, direction=direction)
    assert raised.value.extra["parameter"] == parameter


async def test_unknown_node_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound):
        await query(database, "feature_view:fraud/nope")


async def test_readers_see_their_projects_only(database: Database) -> None:
    flow = Flow()
    shared = Flow(project="shared")
    await apply_all(database, [*shared.events(), *flow.events()])
    # fraud's model version also reads a feature service of project `shared` (a cross-project edge).
    cross = stored(
        "catalogue.ModelVersionCreated",
        {
            "model": "scorer",
            "version": 1,
            "version_id": flow.version_id,
            "model_uri": "m",
            "feature_service": "card_features",
            "feast_project": "shared",
        },
        project="fraud",
    )
    await apply_all(database, [cross])

    upstream = await query(database, f"deployment:{flow.deployment_id}", depth=10, direction="upstream", who=FRAUD)
    assert "feature_service:shared/card_features" not in ids(upstream)
    assert all(n.project == "fraud" for n in upstream.nodes)
    assert all(e.source in ids(upstream) and e.target in ids(upstream) for e in upstream.edges)

    everything = await query(database, f"deployment:{flow.deployment_id}", depth=10, direction="upstream")
    assert "feature_service:shared/card_features" in ids(everything)

    with pytest.raises(NotFound):
        await query(database, "feature_service:shared/card_features", who=FRAUD)
    nobody = Visibility(everything=False, any_project=False, projects=())
    with pytest.raises(NotFound):
        await query(database, "feature_view:fraud/card_stats", who=nobody)
    everywhere = Visibility(everything=False, any_project=True, projects=())
    assert "feature_service:shared/card_features" in ids(
        await query(database, f"deployment:{flow.deployment_id}", depth=10, direction="upstream", who=everywhere)
    )


async def test_the_walk_does_not_pass_through_unreadable_nodes(database: Database) -> None:
    """fraud view → shared dataset → fraud run: a fraud reader does not reach the run through `shared`."""
    view = from_domain(
        FeatureViewApplied(
            aggregate_id="v", project="fraud", name="v", version="1", entities=[], source="", features=[]
        )
    )

    def dataset_event(project: str, views: list[dict[str, str]]) -> TrainingDatasetCreated:
        return TrainingDatasetCreated(
            aggregate_id="ds-shared",
            project=project,
            dataset_id="ds-shared",
            name=None,
            feature_service=None,
            feature_views=views,
            row_count=10,
            uri="",
            job_id=None,
        )

    dataset = from_domain(dataset_event("shared", []))
    edge_in = from_domain(dataset_event("fraud", [{"name": "v", "version": "1"}]))
    run = from_domain(
        RunFinished(
            aggregate_id="run-f",
            project="fraud",
            run_id="run-f",
            experiment_id="1",
            experiment_name="fraud/x",
            status="FINISHED",
            params={"mlplatform.training_dataset": "ds-shared"},
        )
    )
    await apply_all(database, [view, dataset, run])
    await apply_all(database, [edge_in, dataset])
    admin = await query(database, "feature_view:fraud/v", direction="downstream")
    assert "experiment_run:run-f" in ids(admin)
    reader = await query(database, "feature_view:fraud/v", direction="downstream", who=FRAUD)
    assert ids(reader) == {"feature_view:fraud/v"}
    assert reader.edges == []


async def test_a_walk_that_reaches_too_many_nodes_keeps_the_nearest(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlplatform.modules.lineage import services

    flow = Flow()
    await apply_all(database, flow.events())
    whole = await query(database, "feature_view:fraud/card_stats", depth=10, direction="downstream")
    assert not whole.truncated
    monkeypatch.setattr(services, "MAX_NODES", 3)
    cut = await query(database, "feature_view:fraud/card_stats", depth=10, direction="downstream")
    assert cut.truncated
    nearest = sorted((n.distance, n.type, n.key) for n in whole.nodes[1:])[:3]
    assert [(n.distance, n.type, n.key) for n in cut.nodes[1:]] == nearest
    assert all(e.source in ids(cut) and e.target in ids(cut) for e in cut.edges)
