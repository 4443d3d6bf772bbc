"""The README's walkthrough driven by the Python client generated from the OpenAPI document, against a served
platform on PostgreSQL, Redis and S3: a project, a service account with an API key exchanged for an access
token (OAuth2 client credentials), feature definitions with a push and an online read, a catalogue model and
version moved to production through an approval and deployed, the deployment's lineage; and errors (a 404
and a 422) read as the client's `Problem` model.

The client is generated once per session with `--fail-on-warning` (tests/support/generated_client.py): any
generator warning fails the fixture, so CI builds the client with zero warnings. Every call of the walkthrough
goes through the generated functions and models (`models.X` below is the generated package's model X).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.support.generated_client import GenerationFailed, forget_client, generate, import_client, openapi_document
from tests.support.served import E2E_ADMIN_KEY, serve
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="session")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return openapi_document(tmp_path_factory.mktemp("document-app"))


@pytest.fixture(scope="session")
def generated_client(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported from its temporary folder; any generator warning fails here."""
    try:
        project = generate(document, tmp_path_factory.mktemp("generated-client"))
    except GenerationFailed as failure:
        pytest.fail(f"openapi-python-client warned or failed:\n{failure}", pytrace=False)
    yield import_client(project)
    forget_client(project)


@pytest.fixture
def base_url(stack_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serve(tmp_path, stack_env, log=tmp_path / "serve.log", timeout=120) as served:
        yield served.base_url


def parsed(response: Any, status: int, model: type) -> Any:
    """The parsed body of a generated `Response`, checked to be a `model` answered with `status`."""
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


def access_token(base_url: str, admin: Any) -> str:
    """The README's first steps: project `churn`, service account `trainer` (a contributor of it) with an API
    key, and the key exchanged for an access token at the OAuth2 token endpoint."""
    from mlplatform_client import Client, models
    from mlplatform_client.api.auth import auth_issue_token
    from mlplatform_client.api.principals import principals_create_api_key, principals_create_service_account
    from mlplatform_client.api.projects import projects_create_project, projects_put_member

    created = projects_create_project.sync_detailed(client=admin, body=models.ProjectCreate(name="churn"))
    assert parsed(created, 201, models.ProjectOut).name == "churn"
    account = principals_create_service_account.sync_detailed(
        client=admin, body=models.ServiceAccountCreate(name="trainer")
    )
    assert parsed(account, 201, models.PrincipalOut).name == "trainer"
    key_request = models.ApiKeyCreate(name="ci", owner="service_account:trainer", project="churn")
    key = parsed(principals_create_api_key.sync_detailed(client=admin, body=key_request), 201, models.ApiKeyCreated)
    assert key.key.startswith("mlp_")
    member = projects_put_member.sync_detailed(
        "churn", "service_account:trainer", client=admin, body=models.MemberPut(role=models.MemberPutRole.CONTRIBUTOR)
    )
    assert parsed(member, 200, models.MemberOut).role == models.MemberOutRole.CONTRIBUTOR
    with Client(base_url, timeout=httpx.Timeout(60)) as anonymous:
        credentials = models.TokenRequest(grant_type="client_credentials", client_id="trainer", client_secret=key.key)
        token = parsed(auth_issue_token.sync_detailed(client=anonymous, body=credentials), 200, models.TokenResponse)
    assert token.token_type.lower() == "bearer"
    return str(token.access_token)


def define_push_and_read_features(trainer: Any) -> None:
    """An entity, a parquet batch source with a push source in front, a view and a service; rows pushed to the
    online store (as JSON rows, then as a Parquet file) and read back through the service."""
    from mlplatform_client import models
    from mlplatform_client.api.features import (
        features_create_data_source,
        features_create_entity,
        features_create_feature_service,
        features_create_feature_view,
        features_push_batch,
        features_push_rows,
        features_read_online_features,
    )
    from mlplatform_client.types import File

    entity = models.EntityCreate(name="customer", join_key="customer_id")
    assert parsed(features_create_entity.sync_detailed("churn", client=trainer, body=entity), 201, models.Entity)
    for source in (
        models.ParquetSourceCreate(
            name="customers", kind="parquet", path="raw/customers.parquet", timestamp_field="event_timestamp"
        ),
        models.PushSourceCreate(name="customers_live", kind="push", batch_source="customers"),
    ):
        created = features_create_data_source.sync_detailed("churn", client=trainer, body=source)
        assert parsed(created, 201, models.DataSource).name == source.name
    view = models.FeatureViewCreate(
        name="customer_activity",
        entities=["customer"],
        features=[
            models.FieldSpec(name="orders", dtype=models.FieldSpecDtype.INT64),
            models.FieldSpec(name="spend", dtype=models.FieldSpecDtype.FLOAT64),
        ],
        source="customers_live",
        ttl_seconds=86400,
    )
    assert parsed(
        features_create_feature_view.sync_detailed("churn", client=trainer, body=view), 201, models.FeatureView
    )
    service = models.FeatureServiceCreate(name="churn_signals", features=["customer_activity"])
    created_service = features_create_feature_service.sync_detailed("churn", client=trainer, body=service)
    assert parsed(created_service, 201, models.FeatureService)

    now = datetime.now(UTC).replace(microsecond=0)
    push = models.PushRequest.from_dict(
        {
            "push_source": "customers_live",
            "rows": [
                {
                    "customer_id": 1,
                    "event_timestamp": (now - timedelta(minutes=5)).isoformat(),
                    "orders": 4,
                    "spend": 120.5,
                },
                {
                    "customer_id": 2,
                    "event_timestamp": (now - timedelta(minutes=1)).isoformat(),
                    "orders": 1,
                    "spend": 9.0,
                },
            ],
        }
    )
    pushed = parsed(features_push_rows.sync_detailed("churn", client=trainer, body=push), 200, models.PushResult)
    assert pushed.rows == 2
    batch = pd.DataFrame(
        {
            "customer_id": pd.Series([3], dtype="int64"),
            "event_timestamp": [now - timedelta(minutes=2)],
            "orders": pd.Series([7], dtype="int64"),
            "spend": [310.0],
        }
    ).to_parquet(index=False)
    uploaded = features_push_batch.sync_detailed(
        "churn", client=trainer, body=File(payload=io.BytesIO(batch)), push_source="customers_live"
    )
    assert parsed(uploaded, 200, models.PushResult).rows == 1
    read = models.OnlineFeaturesRequest(
        feature_service="churn_signals",
        entities=models.OnlineFeaturesRequestEntities.from_dict({"customer_id": [1, 2, 3, 4]}),
    )
    online = features_read_online_features.sync_detailed("churn", client=trainer, body=read)
    answer = parsed(online, 200, models.OnlineFeaturesResponse)
    columns = dict(zip(answer.metadata.feature_names, answer.results, strict=True))
    assert columns["orders"].values == [4, 1, 7, None]
    assert columns["spend"].values == [120.5, 9.0, 310.0, None]
    assert columns["orders"].statuses == ["PRESENT", "PRESENT", "PRESENT", "NOT_FOUND"]


def register_promote_and_deploy(admin: Any, trainer: Any) -> str:
    """A model whose production needs one approval and a passed check; the trainer registers a version fed by the
    feature service, records the check and requests each stage; the admin (a maintainer, not the requester)
    approves production; the trainer deploys it. Returns the deployment's id."""
    from mlplatform_client import models
    from mlplatform_client.api.catalogue import (
        catalogue_change_stage,
        catalogue_create_deployment,
        catalogue_create_model,
        catalogue_create_version,
        catalogue_decide_transition,
        catalogue_record_validation,
    )

    model = models.ModelCreate(
        name="churn-classifier",
        required_validations=["holdout-auc"],
        approval_policy=models.ModelCreateApprovalPolicy.from_dict({"production": 1}),
    )
    assert parsed(catalogue_create_model.sync_detailed("churn", client=admin, body=model), 201, models.Model)
    version = models.ModelVersionCreate(
        model_uri="s3://models/churn-classifier/1",
        framework="sklearn",
        feature_service=models.FeatureServiceRef(name="churn_signals", feast_project="churn"),
    )
    registered = catalogue_create_version.sync_detailed("churn", "churn-classifier", client=trainer, body=version)
    assert parsed(registered, 201, models.ModelVersion).version == 1
    check = models.ValidationCreate(
        name="holdout-auc",
        status=models.ValidationCreateStatus.PASSED,
        metrics=models.ValidationCreateMetrics.from_dict({"auc": 0.91}),
    )
    recorded = catalogue_record_validation.sync_detailed("churn", "churn-classifier", 1, client=trainer, body=check)
    assert parsed(recorded, 201, models.Validation)
    for stage in (models.TransitionCreateToStage.VALIDATED, models.TransitionCreateToStage.STAGING):
        moved = catalogue_change_stage.sync_detailed(
            "churn", "churn-classifier", 1, client=trainer, body=models.TransitionCreate(to_stage=stage)
        )
        assert parsed(moved, 200, models.TransitionOutcome).version.stage.value == stage.value
    requested = catalogue_change_stage.sync_detailed(
        "churn",
        "churn-classifier",
        1,
        client=trainer,
        body=models.TransitionCreate(to_stage=models.TransitionCreateToStage.PRODUCTION),
    )
    assert parsed(requested, 202, models.TransitionOutcome).status == models.TransitionOutcomeStatus.PENDING_APPROVAL
    approval = models.ApprovalCreate(decision=models.ApprovalCreateDecision.APPROVE, comment="holdout looks good")
    approved = catalogue_decide_transition.sync_detailed("churn", "churn-classifier", 1, client=admin, body=approval)
    assert parsed(approved, 201, models.ApprovalOutcome).version.stage == models.ModelVersionStage.PRODUCTION
    deployment = models.DeploymentCreate(
        model="churn-classifier", version=1, environment="prod", target="https://serving.internal/churn"
    )
    deployed = catalogue_create_deployment.sync_detailed("churn", client=trainer, body=deployment)
    return str(parsed(deployed, 201, models.Deployment).id)


def provenance(trainer: Any, deployment_id: str) -> Any:
    """The deployment's upstream lineage, once the outbox delivered the events it needs (asynchronously)."""
    from mlplatform_client import models
    from mlplatform_client.api.lineage import lineage_query_lineage

    wanted = {"model_version", "feature_service", "feature_view", "data_source"}
    graph: Any = None

    def reached() -> bool:
        nonlocal graph
        response = lineage_query_lineage.sync_detailed(
            client=trainer, node=f"deployment:{deployment_id}", direction="upstream", depth=10
        )
        if response.status_code != 200:
            return False
        graph = parsed(response, 200, models.LineageGraph)
        return wanted <= {node.type_ for node in graph.nodes}

    wait_until(
        reached, timeout=30, interval=0.2, message=lambda: f"the deployment's lineage reaching {wanted}: {graph}"
    )
    return graph


def assert_problems(admin: Any, trainer: Any) -> None:
    """A 404 (a project that does not exist) and a 422 (a project name the API refuses), parsed as `Problem`."""
    from mlplatform_client import models
    from mlplatform_client.api.projects import projects_create_project, projects_get_project

    missing = projects_get_project.sync_detailed("nowhere", client=trainer)
    assert missing.headers["content-type"].startswith("application/problem+json")
    not_found = parsed(missing, 404, models.Problem)
    assert (not_found.status, not_found.title, not_found.instance) == (404, "Not found", "/api/v1/projects/nowhere")
    assert not_found.type_.endswith("/not-found")
    assert not_found.detail
    assert not_found.request_id == missing.headers["x-request-id"]

    refused = projects_create_project.sync_detailed(client=admin, body=models.ProjectCreate(name="Not a name!"))
    assert refused.headers["content-type"].startswith("application/problem+json")
    invalid = parsed(refused, 422, models.Problem)
    assert (invalid.status, invalid.title, invalid.instance) == (422, "Invalid request", "/api/v1/projects")
    assert invalid.type_.endswith("/invalid")
    assert invalid.detail
    assert invalid.request_id == refused.headers["x-request-id"]
    assert [error.key for error in invalid.errors] == ["name"]


def test_the_walkthrough_with_the_generated_client(
    generated_client: ModuleType, document: dict[str, Any], base_url: str
) -> None:
    # Raw HTTP: the document's own route is not an operation of the document, so the client has no function for it.
    served = httpx.get(f"{base_url}/schema/openapi.json", timeout=30)
    assert served.json() == document, "the client was generated from another document than the one served"
    client = generated_client
    with client.AuthenticatedClient(base_url, token=E2E_ADMIN_KEY, timeout=httpx.Timeout(60)) as admin:
        token = access_token(base_url, admin)
        with client.AuthenticatedClient(base_url, token=token, timeout=httpx.Timeout(60)) as trainer:
            define_push_and_read_features(trainer)
            deployment_id = register_promote_and_deploy(admin, trainer)
            graph = provenance(trainer, deployment_id)
            edges = {(edge.source, edge.kind, edge.target) for edge in graph.edges}
            version = "model_version:churn/churn-classifier/1"
            assert (version, "deployed_as", f"deployment:{deployment_id}") in edges
            assert ("feature_service:churn/churn_signals", "read", version) in edges
            assert ("feature_view:churn/customer_activity", "part_of", "feature_service:churn/churn_signals") in edges
            assert_problems(admin, trainer)
