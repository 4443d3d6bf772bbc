"""Errors in MLflow's own shape (`{"error_code": ..., "message": ...}`): the MLflow client parses it."""

from __future__ import annotations

import json

from mlplatform.modules.experiments.hosting.asgi_types import Send

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
PERMISSION_DENIED = "PERMISSION_DENIED"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
UNAUTHENTICATED = "UNAUTHENTICATED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"


class MlflowDenied(Exception):
    """Stop the request here and answer in MLflow's error shape."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    @classmethod
    def not_found(cls, message: str) -> MlflowDenied:
        return cls(404, NOT_FOUND, message)

    @classmethod
    def forbidden(cls, message: str) -> MlflowDenied:
        return cls(403, PERMISSION_DENIED, message)

    @classmethod
    def invalid(cls, message: str) -> MlflowDenied:
        return cls(400, INVALID_PARAMETER_VALUE, message)


def error_body(error_code: str, message: str) -> bytes:
    return json.dumps({"error_code": error_code, "message": message}).encode()


async def send_error(
    send: Send, status: int, error_code: str, message: str, *, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = error_body(error_code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
