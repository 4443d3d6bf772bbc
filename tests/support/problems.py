"""Assertions on RFC 9457 answers, shared by the integration tests."""

from __future__ import annotations

from typing import Any


def problem(response: Any, status: int | set[int]) -> dict[str, Any]:
    """The problem+json body of `response`, after checking its status (one or any of a set), its media type,
    and that the body repeats the status and says what went wrong."""
    expected = status if isinstance(status, set) else {status}
    assert response.status_code in expected, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["detail"]
    return body
