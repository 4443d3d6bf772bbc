"""The operations the OpenAPI document lists, with their ids, are a public contract: clients are generated
from them. A refactoring must leave this list unchanged; a new or renamed operation updates
`tests/data/openapi_operations.txt` on purpose (regenerate it with `python -m tests.unit.test_openapi_operations`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlplatform.settings import Settings

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "openapi_operations.txt"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def operations(data_dir: Path) -> list[str]:
    """`METHOD path operationId` for every operation of the served document, sorted."""
    from mlplatform.app import create_app

    spec: dict[str, Any] = create_app(Settings(data_dir=data_dir, log_json=False)).openapi_schema.to_schema()
    return sorted(
        f"{method.upper()} {path} {operation['operationId']}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    )


def test_operations_and_their_ids_are_unchanged(tmp_path: Path) -> None:
    expected = SNAPSHOT.read_text().splitlines()
    assert operations(tmp_path) == expected


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        SNAPSHOT.write_text("\n".join(operations(Path(folder))) + "\n")
