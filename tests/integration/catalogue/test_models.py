"""Models and versions: registration, reads, updates with If-Match, search with tags, filters,
sorts and cursor pages — on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlplatform.kernel.db import Database, utcnow
from mlplatform.kernel.errors import Conflict, Invalid, NotFound, PreconditionFailed
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.models import CatalogueModel
from mlplatform.modules.catalogue.repositories import ModelFilters, VersionFilters, flush_or_fail
from mlplatform.modules.catalogue.services.models import NewVersion
from tests.integration.catalogue.conftest import acting, event_types
from tests.support.factories import catalogue_model

P = "vision"


async def make_version(database: Database, model: str, **fields: object) -> schemas.ModelVersion:
    data = NewVersion(model_uri=str(fields.pop("model_uri", "s3://bucket/models/m")), **fields)  # type: ignore[arg-type]
    async with acting(database) as svc:
        return await svc.models.create_version(P, model, data)


async def test_create_and_get_model(database: Database) -> None:
    created = await catalogue_model(
        database, P, "resnet", description="image classifier", task_type="classification", tags={"team": "cv"}
    )
    assert created.owner == "user:alice"
    assert created.latest_version == 0
    assert created.production_version is None
    async with acting(database, "user:bob") as svc:
        fetched = await svc.models.get_model(P, "resnet")
    assert fetched == created
    assert await event_types(database) == ["catalogue.ModelCreated"]


async def test_duplicate_name_is_409_and_changes_nothing(database: Database) -> None:
    first = await catalogue_model(database, P, "dup", description="first")
    with pytest.raises(Conflict, match="already exists"):
        await catalogue_model(database, P, "dup", description="second")
    async with acting(database) as svc:
        assert (await svc.models.get_model(P, "dup")).description == "first"
    assert await event_types(database) == ["catalogue.ModelCreated"]
    # The same name in another project is a different model.
    async with acting(database) as svc:
        other = await svc.models.create_model("other", schemas.ModelCreate(name="dup"))
    assert other.id != first.id


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "ok", "tags": {f"k{i}": "v" for i in range(51)}}, "at most 50 tags"),
        ({"name": "ok", "tags": {"k": "v" * 257}}, "longer than 256"),
        ({"name": "ok", "tags": {"bad key": "v"}}, "key"),
        ({"name": "ok", "approval_policy": {"production": 11}}, "approvals"),
        ({"name": "ok", "required_validations": ["has space"]}, "check name"),
    ],
)
async def test_invalid_model_input_is_rejected_and_nothing_is_stored(
    database: Database, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        await catalogue_model(database, P, **fields)  # type: ignore[arg-type]
    async with acting(database) as svc:
        page = await svc.models.search_models(P, ModelFilters(), sort=None, cursor=None, limit=None)
    assert page.items == []
    assert await event_types(database) == []


async def test_update_with_if_match(database: Database) -> None:
    created = await catalogue_model(database, P, "m", description="v1", tags={"a": "1"})
    async with acting(database) as svc:
        updated = await svc.models.update_model(
            P, "m", schemas.ModelUpdate(description="v2", tags={"a": "2"}), if_match=created.etag
        )
    assert (updated.description, updated.tags) == ("v2", {"a": "2"})
    assert updated.etag != created.etag

    with pytest.raises(PreconditionFailed) as stale:
        async with acting(database) as svc:
            await svc.models.update_model(P, "m", schemas.ModelUpdate(description="v3"), if_match=created.etag)
    assert stale.value.extra["current_etag"] == updated.etag
    async with acting(database) as svc:
        assert (await svc.models.get_model(P, "m")).description == "v2"
        # A weak form of the current tag and `*` both match; a no-op update does not bump the ETag.
        same = await svc.models.update_model(
            P, "m", schemas.ModelUpdate(description="v2"), if_match=f"W/{updated.etag}"
        )
        assert same.etag == updated.etag
        starred = await svc.models.update_model(P, "m", schemas.ModelUpdate(owner="team:cv"), if_match="*")
    assert starred.owner == "team:cv"
    assert await event_types(database) == ["catalogue.ModelCreated", "catalogue.ModelUpdated", "catalogue.ModelUpdated"]


async def test_missing_model_is_404(database: Database) -> None:
    async with acting(database) as svc:
        with pytest.raises(NotFound):
            await svc.models.get_model(P, "nope")
        with pytest.raises(NotFound):
            await svc.models.create_version(P, "nope", NewVersion(model_uri="s3://b/k"))


async def test_versions_are_numbered_and_carry_their_source(database: Database) -> None:
    await catalogue_model(database, P, "m")
    v1 = await make_version(
        database,
        "m",
        model_uri="runs:/abc123/model",
        source_run_id="abc123",
        framework="sklearn",
        metrics={"auc": 0.91},
        params={"depth": "6"},
        tags={"data": "2026-11"},
        feature_service="fraud_features",
        feast_project="fraud",
        signature={"inputs": [{"name": "x", "type": "double"}]},
    )
    v2 = await make_version(database, "m", model_uri="s3://bucket/m/2")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.source_type == "mlflow"
    assert v2.source_type == "uri"
    assert v1.feature_service == schemas.FeatureServiceRef(name="fraud_features", feast_project="fraud")
    assert v1.metrics == {"auc": 0.91}
    assert v1.params == {"depth": "6"}
    async with acting(database) as svc:
        model = await svc.models.get_model(P, "m")
        detail = await svc.models.get_version(P, "m", 1)
    assert model.latest_version == 2
    assert detail.stage == "registered"
    assert detail.validations == {}
    assert detail.missing_validations == []
    assert await event_types(database) == [
        "catalogue.ModelCreated",
        "catalogue.ModelVersionCreated",
        "catalogue.ModelVersionCreated",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_uri": "no-scheme"}, "model_uri"),
        ({"model_uri": "ftp://host/x"}, "model_uri"),
        ({"metrics": {"auc": float("nan")}}, "finite"),
        ({"tags": {"k": "v" * 300}}, "longer than 256"),
        ({"params": {f"p{i}": "x" for i in range(1001)}}, "at most 1000"),
        ({"signature": {"blob": "x" * 70_000}}, "signature"),
    ],
)
async def test_invalid_version_input_changes_nothing(
    database: Database, fields: dict[str, object], message: str
) -> None:
    await catalogue_model(database, P, "m")
    with pytest.raises(Invalid, match=message):
        await make_version(database, "m", **fields)
    async with acting(database) as svc:
        assert (await svc.models.get_model(P, "m")).latest_version == 0
    assert await event_types(database) == ["catalogue.ModelCreated"]


async def test_same_mlflow_version_twice_is_409(database: Database) -> None:
    await catalogue_model(database, P, "m")
    await make_version(database, "m", source_run_id="r1", mlflow_version="3")
    with pytest.raises(Conflict, match="already version 1"):
        await make_version(database, "m", source_run_id="r1", mlflow_version="3")


async def test_update_version_with_if_match(database: Database) -> None:
    await catalogue_model(database, P, "m")
    v1 = await make_version(database, "m", tags={"a": "1"})
    async with acting(database) as svc:
        updated = await svc.models.update_version(
            P, "m", 1, schemas.ModelVersionUpdate(tags={"a": "2"}, description="tuned"), if_match=v1.etag
        )
    assert updated.tags == {"a": "2"}
    with pytest.raises(PreconditionFailed):
        async with acting(database) as svc:
            await svc.models.update_version(P, "m", 1, schemas.ModelVersionUpdate(tags={}), if_match=v1.etag)
    async with acting(database) as svc:
        assert (await svc.models.get_version(P, "m", 1)).tags == {"a": "2"}


async def seed_search(database: Database) -> None:
    specs = [
        ("alpha", "fraud scorer", "alice", {"team": "risk", "env": "prod", "tier": "1"}),
        ("beta", "churn model", "bob", {"team": "risk", "env": "prod", "tier": "2"}),
        ("gamma", "fraud detector", "alice", {"team": "risk", "env": "dev", "tier": "1"}),
        ("delta", "recommender 100%_match", "carol", {"team": "growth", "env": "prod", "tier": "1"}),
        ("epsilon", "", "alice", {}),
    ]
    for name, description, owner, tags in specs:
        await catalogue_model(database, P, name, description=description, owner=owner, tags=tags, task_type="binary")
    await make_version(database, "alpha", framework="xgboost", tags={"dataset": "q3"})
    await make_version(database, "beta", framework="sklearn", tags={"dataset": "q3"})
    await make_version(database, "beta", framework="xgboost", tags={"dataset": "q4"})


async def search(database: Database, sort: str | None = None, **filters: object) -> list[str]:
    async with acting(database) as svc:
        page = await svc.models.search_models(P, ModelFilters(**filters), sort=sort, cursor=None, limit=100)  # type: ignore[arg-type]
    return [m.name for m in page.items]


async def test_search_models_by_tags_text_owner_and_versions(database: Database) -> None:
    await seed_search(database)
    assert await search(database) == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert await search(database, tags={"team": "risk", "env": "prod", "tier": "1"}) == ["alpha"]
    assert await search(database, tags={"team": "risk", "env": "prod"}) == ["alpha", "beta"]
    assert await search(database, tags={"team": "nobody"}) == []
    assert await search(database, q="FRAUD") == ["alpha", "gamma"]
    assert await search(database, q="100%_") == ["delta"]  # LIKE wildcards in the text are literal
    assert await search(database, q="%") == ["delta"]
    assert await search(database, owner="alice", tags={"tier": "1"}) == ["alpha", "gamma"]
    assert await search(database, framework="xgboost") == ["alpha", "beta"]
    assert await search(database, framework="sklearn") == ["beta"]
    assert await search(database, stage="registered") == ["alpha", "beta"]
    assert await search(database, stage="production") == []
    assert await search(database, updated_since=utcnow() + timedelta(minutes=1)) == []
    assert await search(database, sort="-name") == ["gamma", "epsilon", "delta", "beta", "alpha"]
    assert await search(database, sort="created_at") == ["alpha", "beta", "gamma", "delta", "epsilon"]
    assert await search(database, sort="-created_at") == ["epsilon", "delta", "gamma", "beta", "alpha"]


async def test_model_search_rejects_bad_parameters(database: Database) -> None:
    async with acting(database) as svc:
        with pytest.raises(Invalid, match="sort"):
            await svc.models.search_models(P, ModelFilters(), sort="size", cursor=None, limit=None)
        with pytest.raises(Invalid, match="unknown stage"):
            await svc.models.search_models(P, ModelFilters(stage="live"), sort=None, cursor=None, limit=None)
        with pytest.raises(Invalid, match="limit"):
            await svc.models.search_models(P, ModelFilters(), sort=None, cursor=None, limit=0)
        with pytest.raises(Invalid, match="cursor"):
            await svc.models.search_models(P, ModelFilters(), sort=None, cursor="garbage!", limit=None)


@pytest.mark.parametrize("sort", ["name", "-name", "updated_at", "-updated_at", "created_at", "-created_at"])
async def test_cursor_pages_walk_every_model_once(database: Database, sort: str) -> None:
    for i in range(7):
        await catalogue_model(database, P, f"m{i}", tags={"kind": "even" if i % 2 == 0 else "odd"})
    expected = await search(database, sort=sort)
    seen: list[str] = []
    cursor = None
    async with acting(database) as svc:
        while True:
            page = await svc.models.search_models(P, ModelFilters(), sort=sort, cursor=cursor, limit=3)
            seen += [m.name for m in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected
        assert len(seen) == 7
        # A cursor belongs to its ordering.
        first = await svc.models.search_models(P, ModelFilters(), sort="name", cursor=None, limit=2)
        assert first.next_cursor is not None
        with pytest.raises(Invalid, match="cursor"):
            await svc.models.search_models(P, ModelFilters(), sort="-created_at", cursor=first.next_cursor, limit=2)


async def test_search_versions_of_a_model_and_across_the_project(database: Database) -> None:
    await seed_search(database)
    async with acting(database) as svc:
        of_beta = await svc.models.search_versions(
            P, VersionFilters(), model_name="beta", sort=None, cursor=None, limit=None
        )
        assert [v.version for v in of_beta.items] == [2, 1]
        q4 = await svc.models.search_versions(
            P, VersionFilters(tags={"dataset": "q4"}), model_name=None, sort=None, cursor=None, limit=None
        )
        assert [(v.model, v.version) for v in q4.items] == [("beta", 2)]
        xgb = await svc.models.search_versions(
            P, VersionFilters(framework="xgboost"), model_name=None, sort="created_at", cursor=None, limit=1
        )
        assert [(v.model, v.version) for v in xgb.items] == [("alpha", 1)]
        rest = await svc.models.search_versions(
            P, VersionFilters(framework="xgboost"), model_name=None, sort="created_at", cursor=xgb.next_cursor, limit=1
        )
        assert [(v.model, v.version) for v in rest.items] == [("beta", 2)]
        assert rest.next_cursor is None
        with pytest.raises(NotFound):
            await svc.models.search_versions(P, VersionFilters(), model_name="zzz", sort=None, cursor=None, limit=None)


async def test_a_change_committed_between_read_and_write_is_refused_not_overwritten(database: Database) -> None:
    """Updates are compare-and-swap on `revision` (also where SQLite ignores FOR UPDATE)."""
    created = await catalogue_model(database, P, "cas", description="original")
    with pytest.raises(PreconditionFailed):
        async with database.transaction() as first:
            stale = await first.get_one(CatalogueModel, created.id)
            async with acting(database, "user:bob") as svc:
                await svc.models.update_model(P, "cas", schemas.ModelUpdate(description="bob's"), if_match=None)
            stale.description = "alice's"
            await flush_or_fail(first, PreconditionFailed("changed"))
    async with acting(database) as svc:
        assert (await svc.models.get_model(P, "cas")).description == "bob's"


async def test_tag_keys_with_dots_and_slashes_are_searchable(database: Database) -> None:
    await catalogue_model(database, P, "dotted", tags={"mlflow.source/type": "NOTEBOOK", "a-b_c": "1"})
    await catalogue_model(database, P, "other", tags={"mlflow.source/type": "JOB"})
    assert await search(database, tags={"mlflow.source/type": "NOTEBOOK", "a-b_c": "1"}) == ["dotted"]
    assert await search(database, tags={"mlflow.source/type": "JOB"}) == ["other"]
