"""Which page origins may sign in or write with the session cookie (`origin_policy.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from mlplatform.modules.gateway.request_path.origin_policy import OriginPolicy, origin_of

POLICY = OriginPolicy(public_url="https://ML.example.com/base/", trusted=["https://console.example", "*"])


def scope(**headers: str) -> Any:
    return {"headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://ml.example.com"},
        {"origin": "https://ML.EXAMPLE.COM"},
        {"origin": "https://console.example"},
        {"origin": "http://localhost:8000", "host": "localhost:8000"},
        {"referer": "https://ml.example.com/login?next=/mlflow/"},
        {"referer": "http://10.0.0.5:8000/x", "host": "10.0.0.5:8000"},
        {},
    ],
)
def test_allowed(headers: dict[str, str]) -> None:
    assert POLICY.foreign_origin(scope(**headers)) is None


@pytest.mark.parametrize(
    ("headers", "reported"),
    [
        ({"origin": "https://evil.example"}, "https://evil.example"),
        ({"origin": "null"}, "null"),
        ({"origin": ""}, "null"),
        ({"origin": "https://ml.example.com.evil.example"}, "https://ml.example.com.evil.example"),
        ({"origin": "http://ml.example.com"}, "http://ml.example.com"),  # another scheme is another origin
        ({"origin": "https://ml.example.com:8443"}, "https://ml.example.com:8443"),
        ({"origin": "https://evil.example", "referer": "https://ml.example.com/"}, "https://evil.example"),
        ({"referer": "https://evil.example/page"}, "https://evil.example"),
        ({"referer": "not a url"}, "not a url"),
        ({"origin": "http://localhost:8001", "host": "localhost:8000"}, "http://localhost:8001"),
        ({"origin": "file://", "host": ""}, "file://"),
        ({"origin": "\xe9\xe9"}, "\xe9\xe9"),
    ],
)
def test_refused(headers: dict[str, str], reported: str) -> None:
    assert POLICY.foreign_origin(scope(**headers)) == reported


def test_a_wildcard_is_never_an_allowed_origin() -> None:
    assert "*" not in POLICY.allowed
    assert origin_of("*") == ""
    assert OriginPolicy(public_url=None, trusted=["*"]).foreign_origin(scope(origin="https://any.example")) is not None
