"""The platform under test and what tests need to drive it (shared by the features tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.storage.project_paths import project_key
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.settings import Settings
from tests.integration.features.external import ExternalDatabase, create_external_database
from tests.support.factories import grant, unique_name
from tests.support.wait import wait_until_async

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Stack:
    """One running platform and what tests need to drive it."""

    name: str
    settings: Settings
    app: Litestar
    client: AsyncTestClient[Litestar]
    location: StoreLocation
    worker_log: Path | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    """What read-only tests of one module may share on this stack (e.g. a materialized project)."""

    @property
    def full(self) -> bool:
        return self.name == "full"

    async def project(self, role: str = "contributor") -> tuple[str, dict[str, str]]:
        """A fresh project and headers of a member with `role`."""
        project = unique_name("p-")
        return project, await grant(self.app, project=project, role=role)

    def write_parquet(self, key: str, frame: pd.DataFrame) -> str:
        """Write `frame` at the store key `key` (anywhere in the store, as only the platform itself can)."""
        uri = self.location.uri_for(key)
        self.location.write(uri, pa.Table.from_pandas(frame, preserve_index=False))
        return uri

    def write_project_parquet(self, project: str, path: str, frame: pd.DataFrame) -> str:
        """Write `frame` at `path` in the project's folder (what the files API or a member's S3 client does)."""
        return self.write_parquet(project_key(project, path), frame)

    @property
    def external(self) -> ExternalDatabase:
        """This stack's external PostgreSQL database (created on first use, dropped with the stack)."""
        if "external" not in self.shared:
            self.shared["external"] = create_external_database()
        external: ExternalDatabase = self.shared["external"]
        return external

    def create_table(self, frame: pd.DataFrame, dtypes: dict[str, str]) -> str:
        """A table holding `frame` in the external database, readable through `postgres_connection`."""
        return self.external.create_table(frame, dtypes)

    async def admin(self) -> dict[str, str]:
        if "admin" not in self.shared:
            self.shared["admin"] = await grant(self.app, platform_admin=True)
        headers: dict[str, str] = self.shared["admin"]
        return headers

    async def postgres_connection(self, project: str) -> str:
        """The name of a connection to the external database (registered once), granted to `project`."""
        name = "external_pg"
        if "connection" not in self.shared:
            response = await self.client.post(
                "/api/v1/connections", json=self.external.body(name), headers=await self.admin()
            )
            assert response.status_code == 201, response.text
            self.shared["connection"] = name
        response = await self.client.post(
            f"/api/v1/connections/{name}/grants", json={"project": project}, headers=await self.admin()
        )
        assert response.status_code == 201, response.text
        return name

    def close(self) -> None:
        external = self.shared.pop("external", None)
        if isinstance(external, ExternalDatabase):
            external.drop()

    async def wait_job(self, headers: dict[str, str], job: dict[str, Any], seconds: float = 90) -> dict[str, Any]:
        current: dict[str, Any] = {}

        async def finished() -> bool:
            nonlocal current
            response = await self.client.get(f"/api/v1/jobs/{job['id']}", headers=headers)
            assert response.status_code == 200, response.text
            current = response.json()
            return current["status"] in TERMINAL

        def report() -> str:
            log = self.worker_log.read_text(errors="replace")[-4000:] if self.worker_log else ""
            return f"job finishing: {current}\n{log}"

        await wait_until_async(finished, timeout=seconds, interval=0.2, message=report)
        return current
