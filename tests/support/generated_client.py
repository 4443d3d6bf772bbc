"""The Python client generated from the platform's OpenAPI document by openapi-python-client (pinned in the dev
group) with `configs/openapi-python-client.yaml`: the command docs/clients.md gives users, run on the document
the app serves.

Generation fails on any warning (`--fail-on-warning`): each one means the generator dropped part of the API (a
response, a body, a parameter) because the document did not describe it in a way a client can use."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "openapi-python-client.yaml"
PROJECT = "mlplatform-client"
PACKAGE = "mlplatform_client"


class GenerationFailed(Exception):
    """The generator printed a warning or an error; the message is its output."""


def openapi_document(data_dir: Path) -> dict[str, Any]:
    """The document `mlplatform serve` answers at /schema/openapi.json, from an app built in this process."""
    from mlplatform.app import create_app
    from mlplatform.settings import Settings

    schema: dict[str, Any] = create_app(Settings(data_dir=data_dir, log_json=False)).openapi_schema.to_schema()
    return schema


def generate(document: dict[str, Any], folder: Path) -> Path:
    """Generate the client project (`--meta uv`) from `document` under `folder`; return the project folder,
    the one to put on `sys.path`. Raises `GenerationFailed` with the generator's output on any warning."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "openapi.json"
    source.write_text(json.dumps(document))
    project = folder / PROJECT
    command = [
        *(sys.executable, "-m", "openapi_python_client", "generate"),
        *("--path", str(source), "--config", str(CONFIG), "--meta", "uv"),
        *("--output-path", str(project), "--overwrite", "--fail-on-warning"),
    ]
    # The generator formats its output with ruff (its post hooks) found on PATH: the one installed beside it.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0 or "warning" in output.lower():
        raise GenerationFailed(output)
    return project


def import_client(project: Path) -> ModuleType:
    """Import the generated package from `project` (put first on `sys.path`)."""
    sys.path.insert(0, str(project))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


def forget_client(project: Path) -> None:
    """Undo `import_client`: the path entry and every module of the package."""
    sys.path.remove(str(project))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
