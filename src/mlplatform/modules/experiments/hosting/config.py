"""MLflow's server configuration, derived from the platform settings.

MLflow's tracking server reads its configuration from environment variables when `mlflow.server`
is imported, several of them private (`_MLFLOW_SERVER_*`, the names `mlflow server` hands to its
workers). This module computes that environment from `Settings` without importing MLflow; the
runtime (`runtime.py`) applies it just before the import. The private names are pinned here and
checked against MLflow's source by a contract test (tests/unit/experiments/test_mlflow_contract.py).

Layout:
- backend store: the platform's PostgreSQL database, schema `mlflow` (psycopg 3 driver,
  `?options=-csearch_path=mlflow`), or the SQLite file `mlflow.db` in the data dir;
- artifacts: `mlflow-artifacts:/` URIs, proxied by the server to `<object store root>/mlflow`
  (S3 through `MLFLOW_S3_ENDPOINT_URL` + the usual `AWS_*` variables, or a local folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from mlplatform.kernel.db import MLFLOW_SCHEMA
from mlplatform.settings import Settings

BACKEND_STORE_URI_ENV = "_MLFLOW_SERVER_FILE_STORE"
REGISTRY_STORE_URI_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"
SERVE_ARTIFACTS_ENV = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"
ARTIFACT_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"

ALLOWED_HOSTS_ENV = "MLFLOW_SERVER_ALLOWED_HOSTS"
CORS_ORIGINS_ENV = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS"
S3_ENDPOINT_ENV = "MLFLOW_S3_ENDPOINT_URL"
TELEMETRY_OFF_ENV = "MLFLOW_DISABLE_TELEMETRY"
DO_NOT_TRACK_ENV = "DO_NOT_TRACK"
"""The cross-tool opt-out (consoledonottrack.com) MLflow also honours."""

ARTIFACT_ROOT = "mlflow-artifacts:/"
ARTIFACT_PREFIX = "mlflow"
"""Key prefix of MLflow's artifacts inside the platform object store."""

MOUNT_PATH = "/mlflow"

MLFLOW_THREADS = 16
"""Worker threads MLflow's blocking code (its Flask app, its stores) may occupy at once.

Its own limiter, separate from the 40-thread pool Litestar's sync handlers use, so a burst of
tracking calls queues here instead of starving the rest of the platform; also the size of MLflow's
connection pool."""

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")  # noqa: S104 - host names, not a bind


@dataclass(frozen=True)
class MlflowConfig:
    """Everything MLflow's server reads from the environment, computed from platform settings."""

    backend_store_uri: str
    artifact_destination: str
    allowed_hosts: tuple[str, ...]
    cors_origins: tuple[str, ...] = ()
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    auto_migrate: bool = True
    threads: int = MLFLOW_THREADS
    separate_process: bool = True
    """Serve MLflow's app from its own process (`worker.py`) instead of the platform's."""
    server_niceness: int = 10
    """Niceness the separate server process adds to its own (lower CPU priority than the platform)."""
    telemetry: bool = False
    """MLflow's usage telemetry; off unless the operator turns it on (`experiments.telemetry`)."""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def registry_store_uri(self) -> str:
        return self.backend_store_uri

    @property
    def uses_postgres(self) -> bool:
        return self.backend_store_uri.startswith("postgresql")

    def internal_strings(self) -> tuple[str, ...]:
        """Values that must never reach a client in an error message: the database URI (and its SQLite file),
        where the artifacts are stored."""
        found = [self.backend_store_uri, self.artifact_destination]
        if self.backend_store_uri.startswith("sqlite:///"):
            found.append(self.backend_store_uri[len("sqlite:///") :])
        else:  # host:port/database, however the URI is rendered around it
            found.append(self.backend_store_uri.split("://", 1)[-1].rsplit("@", 1)[-1].split("?", 1)[0])
        return tuple(found)

    def telemetry_environment(self) -> dict[str, str]:
        """MLflow's usage telemetry off (`MLFLOW_DISABLE_TELEMETRY`, and the cross-tool `DO_NOT_TRACK`), unless
        the operator turned it on."""
        if self.telemetry:
            return {TELEMETRY_OFF_ENV: "false"}
        return {TELEMETRY_OFF_ENV: "true", DO_NOT_TRACK_ENV: "true"}

    def environment(self) -> dict[str, str]:
        """The variables to set before importing `mlflow.server`."""
        env = {
            BACKEND_STORE_URI_ENV: self.backend_store_uri,
            REGISTRY_STORE_URI_ENV: self.registry_store_uri,
            SERVE_ARTIFACTS_ENV: "true",
            ARTIFACT_ROOT_ENV: ARTIFACT_ROOT,
            ARTIFACT_DESTINATION_ENV: self.artifact_destination,
            ALLOWED_HOSTS_ENV: ",".join(self.allowed_hosts),
            # MLflow's pool serves at most `threads` concurrent handlers plus the platform's own store calls.
            "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": str(self.threads),
            "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": str(self.threads),
            "MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE": "1800",
        }
        env.update(self.telemetry_environment())
        if self.cors_origins:
            env[CORS_ORIGINS_ENV] = ",".join(self.cors_origins)
        if self.s3_endpoint_url:
            env[S3_ENDPOINT_ENV] = self.s3_endpoint_url
        if self.s3_region:
            env["AWS_DEFAULT_REGION"] = self.s3_region
        env.update(self.extra_env)
        return env


def backend_store_uri(settings: Settings) -> str:
    """MLflow's SQLAlchemy URI: the platform database (schema `mlflow`) or `<data_dir>/mlflow.db`."""
    if not settings.uses_postgres:
        return f"sqlite:///{(settings.data_dir / 'mlflow.db').resolve()}"
    url = make_url(settings.resolved_database_url)
    query = {k: v for k, v in url.query.items() if k not in {"ssl", "prepared_statement_cache_size"}}
    ssl = url.query.get("ssl")
    if isinstance(ssl, str) and "sslmode" not in query:
        query["sslmode"] = ssl  # asyncpg's `ssl=require` is libpq's `sslmode=require`
    query["options"] = f"-csearch_path={MLFLOW_SCHEMA}"
    return url.set(drivername="postgresql+psycopg", query=query).render_as_string(hide_password=False)


def artifact_destination(settings: Settings) -> str:
    """Where proxied artifacts land: `<object store root>/mlflow` (an S3 URI or an absolute folder)."""
    root = settings.resolved_storage_url
    parts = urlsplit(root)
    if parts.scheme == "s3":
        prefix = parts.path.strip("/")
        key = f"{prefix}/{ARTIFACT_PREFIX}" if prefix else ARTIFACT_PREFIX
        return f"s3://{parts.netloc}/{key}"
    folder = Path(parts.path) if parts.scheme == "file" else Path(root)
    return str((folder / ARTIFACT_PREFIX).resolve())


def allowed_hosts(settings: Settings) -> tuple[str, ...]:
    """Host headers MLflow's DNS-rebinding check accepts.

    The public URL's host (with and without port), the bind address when it names a host, loopback
    and private addresses (MLflow's defaults), plus anything an operator already put in
    `MLFLOW_SERVER_ALLOWED_HOSTS`. Requests reach MLflow only after the gateway authenticated them;
    the check still protects browser sessions against DNS rebinding.
    """
    hosts: list[str] = []
    if settings.server.public_url:
        public = urlsplit(settings.server.public_url)
        if public.hostname:
            hosts.append(public.hostname)
            hosts.append(public.netloc.rsplit("@", 1)[-1])
    bind = settings.server.host
    if bind and bind not in {"0.0.0.0", "::"}:  # noqa: S104 - comparing, not binding
        hosts += [bind, f"{bind}:*"]
    for host in _LOCAL_HOSTS:
        hosts += [host, f"{host.replace('[', '[[]', 1)}:*"]
    hosts += ["192.168.*", "10.*", *(f"172.{i}.*" for i in range(16, 32)), "fc00:*", "fd00:*"]
    operator = os.environ.get(ALLOWED_HOSTS_ENV, "")
    hosts += [h.strip() for h in operator.split(",") if h.strip()]
    return tuple(dict.fromkeys(hosts))


def allowed_origins(settings: Settings) -> tuple[str, ...]:
    """Origins whose browser pages may send state-changing requests to MLflow.

    MLflow refuses a POST from any non-localhost `Origin` it was not told about, and the UI served by the
    platform sends its own origin: so the public URL's origin, plus the platform's CORS origins.
    """
    origins: list[str] = []
    if settings.server.public_url:
        public = urlsplit(settings.server.public_url)
        origins.append(f"{public.scheme}://{public.netloc}")
    origins += settings.http.cors_origins
    return tuple(dict.fromkeys(origins))


def mlflow_config(settings: Settings) -> MlflowConfig:
    return MlflowConfig(
        backend_store_uri=backend_store_uri(settings),
        artifact_destination=artifact_destination(settings),
        allowed_hosts=allowed_hosts(settings),
        cors_origins=allowed_origins(settings),
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
        auto_migrate=settings.should_auto_migrate,
        separate_process=settings.experiments.server == "process",
        server_niceness=settings.experiments.server_niceness,
        telemetry=settings.experiments.telemetry,
    )
