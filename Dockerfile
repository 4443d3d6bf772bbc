# syntax=docker/dockerfile:1.7
#
# mlplatform container image: one image for every role.
#
#   docker build -t mlplatform:local .
#   docker run --rm -p 8000:8000 mlplatform:local                # serve (embedded default: SQLite + local folder)
#   docker run --rm mlplatform:local migrate                       # apply the platform's migrations
#   docker run --rm mlplatform:local worker                        # run background jobs
#
# The runtime stage holds the Python interpreter, the locked virtualenv (no dev dependencies, the project
# installed as a regular wheel, not editable) and the runtime assets that are not part of the wheel
# (Alembic migrations, configs/). No compilers, no package manager caches, no uv.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# --------------------------------------------------------------------------------------------------------------------
# builder: resolve nothing, install exactly what uv.lock says into /app/.venv
# --------------------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

COPY --from=uv /uv /uvx /usr/local/bin/

# - compile bytecode now: the runtime user cannot write __pycache__ into the root-owned venv, and import time
#   (mlflow + feast + litestar ~7.5 s cold) is a user-visible start-up figure;
# - copy (not hardlink) from the cache mount, which does not survive into the image;
# - use the image's interpreter, never a downloaded one, so the venv works unchanged in the runtime stage.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src

# 1) third-party dependencies only: this layer is rebuilt when uv.lock / pyproject.toml change, not on code edits.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --no-dev --no-editable --no-install-project

# 2) the project itself, built as a wheel and installed non-editable (the source tree is not needed at runtime).
#    The context is filtered by .dockerignore (no .venv, .git, tests, caches, local data).
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# 3) runtime assets that live outside src/:
#    - Alembic migrations: `mlplatform.kernel.migrations.migrations_dir()` looks for `mlplatform/migrations` inside
#      the installed package (the source-tree `migrations/` is not reachable from a non-editable install). If the
#      wheel does not already ship them, place them there (precompiled: the venv is read-only at runtime). The
#      build fails here, not at `mlplatform migrate`, when they are missing.
#    - configs/: the documented YAML configurations, at /app/configs.
RUN set -eu; \
    pkg="$(/app/.venv/bin/python -c 'import mlplatform, pathlib; print(pathlib.Path(mlplatform.__file__).parent)')"; \
    if [ ! -f "$pkg/migrations/env.py" ] && [ -f migrations/env.py ]; then \
        cp -a migrations "$pkg/migrations"; \
        /app/.venv/bin/python -m compileall -q "$pkg/migrations"; \
    fi; \
    test -f "$pkg/migrations/env.py" || { echo "migrations/ missing from the image" >&2; exit 1; }; \
    if [ -d configs ]; then cp -a configs /app/configs; fi

# --------------------------------------------------------------------------------------------------------------------
# runtime
# --------------------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="mlplatform" \
      org.opencontainers.image.description="Self-hosted ML platform: gateway, model catalogue, Feast feature store, MLflow tracking, lineage" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH="/app/.venv/bin:${PATH}" \
    HOME=/var/lib/mlplatform \
    MLPLATFORM_DATA_DIR=/var/lib/mlplatform

# Non-root user `mlplatform` (uid/gid 10001) owning only the data directory; code and venv stay root-owned
# (read-only for the process).
RUN groupadd --system --gid 10001 mlplatform \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/mlplatform --shell /usr/sbin/nologin mlplatform \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/mlplatform

COPY --from=builder /app /app

WORKDIR /app

# Numeric so that Kubernetes `runAsNonRoot` can verify it without reading /etc/passwd (10001 = mlplatform).
USER 10001:10001

EXPOSE 8000

# slim has no curl: probe liveness with the standard library. Non-2xx or no answer -> exception -> exit 1.
# MLPLATFORM_HEALTHCHECK_URL overrides the probe when `serve` listens elsewhere; `worker` and `migrate`
# containers serve no HTTP and should disable the check (compose.yaml does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('MLPLATFORM_HEALTHCHECK_URL', 'http://127.0.0.1:8000/health/live'), timeout=4)"]

ENTRYPOINT ["mlplatform"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
