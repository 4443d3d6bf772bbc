"""No request body has a top-level field named like a dependency of its route.

Litestar reports an invalid body field by its name alone and takes a name it also knows as a dependency
for a failure of that dependency: the client gets a 500 instead of its 400 (this hit `"features": {}` on
six feature routes while the features runtime was injected as `features`).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from mlplatform.settings import Settings
from tests.support.routes import http_routes


def test_no_body_field_shadows_a_dependency(tmp_path: Path) -> None:
    from mlplatform.app import create_app

    app = create_app(Settings(data_dir=tmp_path, log_json=False))
    bodies = 0
    clashes = []
    for method, path, handler in http_routes(app):
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is None or not (isinstance(data.annotation, type) and issubclass(data.annotation, msgspec.Struct)):
            continue
        bodies += 1
        shared = set(data.annotation.__struct_fields__) & set(handler.resolve_dependencies())
        if shared:
            clashes.append(f"{method} {path}: {sorted(shared)}")
    assert bodies >= 10
    assert clashes == []
