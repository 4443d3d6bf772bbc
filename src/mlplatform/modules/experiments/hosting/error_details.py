"""Keep MLflow's internals out of error answers: SQL statements and their bound values, database URLs,
server paths, tracebacks. The client gets MLflow's error shape with the message cut before the first internal
detail (MLflow's own sentence, e.g. "Experiment(name=churn/a) already exists.") and a request id; the whole
message goes to the platform's log under that id.

MLflow puts such details in its messages itself: `Experiment(name=...) already exists. Error:
(psycopg.errors.UniqueViolation) ... [SQL: INSERT INTO experiments ...] [parameters: {...}]`, or, for a model
version artifact it cannot reach, "the tracking URI ... was currently set to postgresql+psycopg://...".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import structlog

from mlplatform.kernel.request_ids import current_request_id

log = structlog.get_logger("mlplatform.experiments")

INTERNAL_ERROR = "INTERNAL_ERROR"
BAD_REQUEST = "BAD_REQUEST"
MAX_ERROR_BODY = 64 * 1024
"""Error bodies are buffered up to this size to be checked; a larger one is replaced without reading on."""

_INTERNALS = re.compile(
    "|".join(
        (
            r"\[SQL: ",
            r"\[parameters: ",
            r"\(Background on this error",
            r"\((?:psycopg2?|sqlite3|pymysql|sqlalchemy|builtins)\.[\w.]+\)",
            r"\b(?:psycopg2?|sqlalchemy|sqlite3)\.(?:errors|exc)\b",
            r"\bDETAIL: ",
            r"Traceback \(most recent call last\)",
            r'File "[^"]+", line \d+',
            r"/site-packages/",
            r"\b(?:postgres(?:ql)?|mysql|mssql|sqlite|oracle)(?:\+\w+)?:/",
            r"\b[a-z][\w+.-]*://[^\s/:@]+:[^\s/@]+@",  # credentials in a URL
        )
    ),
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[\s.:;,(\[-]*(?:\b(?:error|details?|cause|reason)\b[\s.:;,(\[-]*)*$", re.IGNORECASE)
_MIN_PREFIX = 12


class ErrorScrubber:
    """Decides whether an error message carries internals and what the client sees instead."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(s for s in dict.fromkeys(secrets) if s and len(s) >= 6)

    def first_internal(self, message: str) -> int | None:
        """Where the first internal detail starts, or None when there is none."""
        found = _INTERNALS.search(message)
        positions = [found.start()] if found else []
        positions += [i for i in (message.find(secret) for secret in self.secrets) if i >= 0]
        return min(positions) if positions else None

    def public_message(self, message: str, *, status: int, unexpected: bool = False) -> str | None:
        """The message to send instead, or None to send it unchanged. `unexpected` (MLflow's INTERNAL_ERROR:
        the text is an exception's, whatever it holds) replaces it in any case."""
        cut = self.first_internal(message)
        if cut is None and not unexpected and message:
            return None
        prefix = _TRAILING.sub("", message[: cut if cut is not None else 0]).strip()
        request_id = current_request_id.get() or "-"
        withheld = f"details withheld (request id {request_id})"
        if len(prefix) >= _MIN_PREFIX:
            return f"{prefix}; {withheld}."
        if status >= 500:
            return f"MLflow could not complete the request; {withheld}."
        return f"MLflow refused the request; {withheld}."

    def safe_message(self, message: str, *, status: int, path: str, error_code: str | None = None) -> str:
        """`message` when it carries no internals, else its public form (the original is logged)."""
        replacement = self.public_message(message, status=status)
        if replacement is None:
            return message
        self._log(status, path, error_code, message)
        return replacement

    def scrub_body(self, status: int, body: bytes, *, path: str) -> bytes | None:
        """A replacement for an MLflow error body, or None when it may go out as it is."""
        try:
            data: Any = json.loads(body) if body else None
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            unexpected = status >= 500 and data.get("error_code") in {INTERNAL_ERROR, None}
            replacement = self.public_message(data["message"], status=status, unexpected=unexpected)
            if replacement is None:
                return None
            self._log(status, path, str(data.get("error_code")), data["message"])
            return json.dumps({**data, "message": replacement}).encode()
        text = body.decode("utf-8", "replace")
        if status < 500 and self.first_internal(text) is None:
            return None  # e.g. an HTML 404 page
        self._log(status, path, None, text)
        return self._generic(status)

    def oversized(self, status: int, *, path: str) -> bytes:
        self._log(status, path, None, f"<error body larger than {MAX_ERROR_BODY} bytes, not read>")
        return self._generic(status)

    def _generic(self, status: int) -> bytes:
        """MLflow's error shape without MLflow's text (a page or a body too large to look at)."""
        message = self.public_message("", status=status, unexpected=True) or ""
        code = INTERNAL_ERROR if status >= 500 else BAD_REQUEST
        return json.dumps({"error_code": code, "message": message}).encode()

    @staticmethod
    def _log(status: int, path: str, error_code: str | None, detail: str) -> None:
        log.warning("mlflow_error_withheld", status=status, path=path, error_code=error_code, detail=detail[:8000])
