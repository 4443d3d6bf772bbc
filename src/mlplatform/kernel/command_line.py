"""What every `mlplatform` command shares: how it fails, and how it reads the settings."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError

from mlplatform.settings import ENV_PREFIX, Settings


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"mlplatform: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Settings from the environment; a bad value ends the process with one line naming it."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
        fail(f"invalid setting {name}: {error['msg']}")
    except ValueError as exc:
        fail(f"invalid settings: {exc}")
