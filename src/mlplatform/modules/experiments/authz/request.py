"""An MLflow request as the authorization layer sees it: endpoint path, query and JSON body.

Fields are read exactly the way MLflow's handlers read them (`_get_request_message`): a GET with a
query string takes its fields from the query, every other request from the JSON body (which older
clients double-encode as a JSON string). Protobuf accepts a field under its proto name and its JSON
name (`run_id` / `runId`), so both spellings are always read, and every value found is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from mlplatform.modules.experiments.authz.errors import MlflowDenied


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class MlflowCall:
    method: str
    path: str
    """Path relative to the mount, with `/ajax-api/` folded into `/api/` (`/api/2.0/mlflow/runs/get`)."""
    query: dict[str, list[str]]
    body: Any = None
    path_params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, method: str, relative_path: str, query_string: bytes) -> MlflowCall:
        path = relative_path
        if path.startswith("/ajax-api/"):
            path = "/api/" + path[len("/ajax-api/") :]
        query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
        return cls(method=method, path=path, query=query)

    @property
    def fields_from_query(self) -> bool:
        return self.method == "GET" and bool(self.query)

    def parse_body(self, raw: bytes) -> None:
        if self.fields_from_query or not raw.strip():
            self.body = {}
            return
        try:
            body = json.loads(raw)
            if isinstance(body, str):
                body = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise MlflowDenied(400, "MALFORMED_REQUEST", "the request body is not valid JSON") from None
        self.body = body if isinstance(body, dict) else {}

    def values(self, name: str, *, source: str | None = None) -> list[str]:
        """Every value given for field `name` (either spelling), as strings.

        `source` forces "query" or "body" for handlers that read one regardless of the method.
        """
        from_query = self.fields_from_query if source is None else source == "query"
        found: list[str] = []
        for key in dict.fromkeys((name, camel(name))):
            if from_query:
                found += self.query.get(key, [])
            else:
                value = (self.body or {}).get(key)
                if isinstance(value, list):
                    found += [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
                elif value is not None and not isinstance(value, (dict, list)):
                    found.append(str(value))
        return found

    def value(self, name: str, *, source: str | None = None) -> str | None:
        values = self.values(name, source=source)
        return values[0] if values else None

    def body_field(self, name: str) -> Any:
        body = self.body or {}
        return body.get(name, body.get(camel(name)))
