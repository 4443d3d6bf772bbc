"""Feast's configuration, built from the platform's settings (no feast import here).

- Registry: Feast's SQL registry in its own PostgreSQL schema `feast` (psycopg 3 URL with
  `search_path=feast`), or a SQLite file in the data dir on the embedded default.
- Online store: Redis when the platform has Redis, else a SQLite file.
- Offline store: the platform's own (`adapters.offline`): parquet in the object store + sources on granted
  connections (it is never given the platform database's URL).
- A platform project `p` is the Feast project `feast_project(p)` (dashes become underscores: Feast's
  SQLite online store refuses dashes, and platform project names never contain underscores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import msgspec
import yaml

from mlplatform.kernel.db import FEAST_SCHEMA
from mlplatform.modules.features.schemas import FeatureStoreConfig, RemoteOnlineStore, RemoteRegistry, TokenAuth
from mlplatform.settings import Settings

OFFLINE_STORE_TYPE = "mlplatform.modules.features.adapters.offline.PlatformOfflineStore"
REGISTRY_CACHE_TTL_SECONDS = 60
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - names of the wildcard addresses, not a bind


def feast_project(project: str) -> str:
    return project.replace("-", "_")


@dataclass(frozen=True)
class FeastSettings:
    """The parts of the platform's settings Feast needs, resolved once."""

    registry_url: str
    """SQLAlchemy URL of Feast's SQL registry."""
    redis_url: str | None
    online_sqlite_path: str
    offline_root_uri: str
    s3_endpoint_url: str | None
    s3_region: str | None
    postgres_url: str | None
    """psycopg URL of the platform database (for PostgreSQL sources), None on SQLite."""
    production: bool

    @classmethod
    def from_settings(cls, settings: Settings, object_store_root: str) -> FeastSettings:
        data_dir = settings.data_dir.resolve()
        postgres_url = None
        if settings.uses_postgres:
            postgres_url = psycopg_url(settings.resolved_database_url)
            registry_url = with_search_path(postgres_url, FEAST_SCHEMA)
        else:
            registry_url = f"sqlite:///{data_dir / 'feast_registry.db'}"
        return cls(
            registry_url=registry_url,
            redis_url=settings.redis_url,
            online_sqlite_path=str(data_dir / "feast_online.db"),
            offline_root_uri=object_store_root,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            postgres_url=postgres_url,
            production=settings.is_production,
        )

    @property
    def online_is_redis(self) -> bool:
        return self.redis_url is not None

    def repo_config(self, project: str) -> dict[str, Any]:
        """Keyword arguments of `feast.RepoConfig` for one platform project."""
        return {
            "project": feast_project(project),
            "provider": "local",
            "registry": {
                "registry_type": "sql",
                "path": self.registry_url,
                "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
                "schema_mode": "auto",
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            },
            "online_store": self.online_store(),
            "offline_store": {
                "type": OFFLINE_STORE_TYPE,
                "root_uri": self.offline_root_uri,
                "project": project,
                "s3_endpoint_url": self.s3_endpoint_url,
                "s3_region": self.s3_region,
            },
            "entity_key_serialization_version": 3,
        }

    def online_store(self) -> dict[str, Any]:
        if self.redis_url is None:
            return {"type": "sqlite", "path": self.online_sqlite_path}
        return {"type": "redis", "connection_string": redis_connection_string(self.redis_url)}


def psycopg_url(url: str) -> str:
    """The platform's asyncpg URL as a psycopg 3 URL (what Feast's SQL registry and pandas use)."""
    scheme, rest = url.split("://", 1)
    if not scheme.startswith("postgresql"):
        raise ValueError("not a PostgreSQL URL")
    return f"postgresql+psycopg://{rest}"


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redis_connection_string(url: str) -> str:
    """`redis://[:password@]host:port/db` as Feast's `host:port,db=N[,password=...][,ssl=true]`."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    items = [f"{host}:{parts.port or 6379}"]
    db = (parts.path or "/0").lstrip("/") or "0"
    items.append(f"db={int(db)}")
    if parts.password:
        items.append(f"password={unquote(parts.password)}")
    if parts.username and parts.username != "default":
        items.append(f"username={unquote(parts.username)}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    return ",".join(items)


def public_base_url(settings: Settings) -> str:
    """The platform's external base URL: `server.public_url`, else the address `serve` binds (a wildcard
    bind as loopback). Never taken from a request: a forged `Host` header must not end up in a config."""
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/")
    host = settings.server.host
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.server.port}"


def feature_store_yaml(project: str, *, base_url: str, registry_address: str, registry_tls: bool) -> str:
    """A `feature_store.yaml` (a `FeatureStoreConfig`, as the OpenAPI document shows it) for the stock Feast SDK
    with a platform token and nothing else: the registry through the platform's guarded gRPC registry port
    (read-only, this project's objects), online reads through the platform's Feast-compatible endpoint. No
    database address, user or password: Feast's default offline store stays local to the client (training
    sets come from the platform's historical API)."""
    config = FeatureStoreConfig(
        project=feast_project(project),
        provider="local",
        registry=RemoteRegistry(registry_type="remote", path=registry_address, is_tls=registry_tls),
        online_store=RemoteOnlineStore(type="remote", path=f"{base_url.rstrip('/')}/feast/{project}"),
        auth=TokenAuth(type="oidc", token_env_var="MLPLATFORM_TOKEN"),  # noqa: S106 - a variable's name
        entity_key_serialization_version=3,
    )
    header = (
        f"# Feast configuration for platform project {project!r}.\n"
        "# Set MLPLATFORM_TOKEN to a platform access token or API key (viewer role in the project or higher).\n"
        "# Registry: read-only (list/get definitions); create and change them through the platform's REST API.\n"
        f"# Training sets: POST {base_url.rstrip('/')}/api/v1/projects/{project}/features/historical "
        "(point-in-time correct, every entity row kept).\n"
    )
    return header + yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False)
