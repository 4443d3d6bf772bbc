"""Validating OpenLineage events against the OpenLineage 2-0-2 JSON schemas, offline.

The schemas are in `/work/shared/data/openlineage/` (`OpenLineage.json` and `facets/*.json`), or
wherever `MLPLATFORM_OPENLINEAGE_SCHEMAS` points. Every `$id` is mapped to its file in a `referencing`
registry, so nothing is fetched. The platform's own facet schema is registered too.

`validate_run_event` checks the event against `#/$defs/RunEvent` and then every facet against the
schema its `_schemaURL` names (which must be one of the registered ones).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mlplatform.modules.lineage.openlineage.facets import model_facet_schema

RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def schema_dir() -> Path:
    configured = os.environ.get("MLPLATFORM_OPENLINEAGE_SCHEMAS")
    candidates = [Path(configured)] if configured else []
    here = Path(__file__).resolve()
    candidates += [parent / "shared" / "data" / "openlineage" for parent in here.parents]
    candidates.append(Path("/work/shared/data/openlineage"))
    for candidate in candidates:
        if (candidate / "OpenLineage.json").is_file():
            return candidate
    raise FileNotFoundError("OpenLineage JSON schemas not found (set MLPLATFORM_OPENLINEAGE_SCHEMAS)")


@cache
def registry() -> Registry:
    documents = [json.loads((schema_dir() / "OpenLineage.json").read_text())]
    documents += [json.loads(path.read_text()) for path in sorted((schema_dir() / "facets").glob("*.json"))]
    documents.append(model_facet_schema())
    resources = [(doc["$id"], Resource.from_contents(doc, default_specification=DRAFT202012)) for doc in documents]
    return Registry().with_resources(resources)


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def known_schema(url: str) -> bool:
    document = url.split("#", 1)[0]
    try:
        registry().contents(document)
    except LookupError:
        return False
    return True


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    found += [(f"run.{k}", v) for k, v in (event["run"].get("facets") or {}).items()]
    found += [(f"job.{k}", v) for k, v in (event["job"].get("facets") or {}).items()]
    for side in ("inputs", "outputs"):
        for dataset in event.get(side) or []:
            for group in ("facets", "inputFacets", "outputFacets"):
                found += [(f"{side}.{dataset['name']}.{k}", v) for k, v in (dataset.get(group) or {}).items()]
    return found


def validate_run_event(event: dict[str, Any]) -> None:
    """Raise `AssertionError` listing everything wrong with `event`."""
    problems = [f"event: {e.message} at {list(e.absolute_path)}" for e in _validator(RUN_EVENT).iter_errors(event)]
    uuid.UUID(event["run"]["runId"])
    datetime.fromisoformat(event["eventTime"])
    for where, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        if not known_schema(url):
            problems.append(f"{where}: _schemaURL {url!r} is not a known schema")
            continue
        problems += [f"{where}: {e.message}" for e in _validator(url).iter_errors(facet)]
    assert not problems, "\n".join(problems)
