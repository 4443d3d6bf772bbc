"""Production through `/mlflow` follows the catalogue's policy.

MLflow marks a version for production with its stage (`transition-stage` to `Production`) or an alias
(`production`, `prod`): what `models:/<name>/Production` and `models:/<name>@production` load. When the
catalogue model of that MLflow model (project `<project>`, name without the `<project>.` prefix) has an approval
policy for production or required validations, production is decided in the catalogue (request, validations,
approvals by other maintainers). MLflow may then only point its production stage or alias at the version the
catalogue has in production; anything else is refused with 403 `PERMISSION_DENIED` naming the catalogue's
transition route. This holds for every caller, platform admins included, as in the catalogue. A model the
catalogue does not know, or one without such a policy, is MLflow's business as before.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.catalogue.api import ProductionPolicy, production_policy
from mlplatform.modules.experiments.authz.errors import MlflowDenied

PRODUCTION_STAGE = "production"
PRODUCTION_ALIASES = frozenset({"production", "prod"})
"""Alias names (compared case-insensitively) that designate production, as the stage does."""


class ProductionGuard:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def policy(self, project: str, model: str, mlflow_version: str) -> ProductionPolicy | None:
        try:
            async with self.database.sessionmaker() as session:
                return await production_policy(
                    session, project=project, model_name=model, mlflow_version=mlflow_version
                )
        except (SQLAlchemyError, OSError) as exc:
            raise Unavailable("the catalogue cannot be asked about production", component="database") from exc

    async def check(self, project: str, registered_model: str, mlflow_version: str) -> None:
        """Refuse unless the catalogue lets MLflow version `mlflow_version` of `registered_model` be production."""
        model = registered_model.removeprefix(f"{project}.")
        policy = await self.policy(project, model, mlflow_version)
        if policy is None or not policy.gated or policy.stage == PRODUCTION_STAGE:
            return
        needs = []
        if policy.required_approvals:
            needs.append(f"{policy.required_approvals} approval(s)")
        if policy.required_validations:
            needs.append(f"passed validations ({', '.join(policy.required_validations)})")
        where = (
            f"catalogue version {policy.version} ({policy.stage})"
            if policy.version is not None
            else "no catalogue version yet"
        )
        route = f"/api/v1/projects/{project}/models/{policy.model}/versions/{policy.version or '<n>'}/transitions"
        raise MlflowDenied.forbidden(
            f"Production for '{registered_model}' is decided in the platform's catalogue, whose policy needs "
            f"{' and '.join(needs)}: MLflow version {mlflow_version} is {where}, not in production. Request it "
            f'with POST {route} {{"to_stage": "production"}}; once the catalogue has it in production, its MLflow '
            "stage or alias may be set to it."
        )
