"""What a model worker pool raises. The request-time ones are platform errors, so routes answer problem+json."""

from __future__ import annotations

from typing import Any, ClassVar

from mlplatform.kernel.errors import Invalid, PlatformError, Unavailable

MODEL_ERROR_DETAIL_CHARS = 500


class ModelLoadFailed(Exception):
    """The model could not be loaded and warmed: a bad or missing artifact, a missing dependency (the reason
    names the module), the memory limit hit while loading, or a worker that died while starting."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PredictInputError(Invalid):
    """422: the input does not fit the model (MLflow's schema enforcement refused it, or the pool's own
    checks: ragged columns, too many rows). The detail names the column when the refusal does."""


class ModelRaised(PlatformError):
    """422: the model's own `predict` raised on this input. The detail is `<ExceptionType>: <message>`,
    trimmed: it is the project's own model speaking, so the caller sees it (a 5xx detail would be kept for the
    log). As MLflow's scoring server does (it answers 400), this is the request's answer, not the platform
    failing: the same model answers other inputs, and the worker keeps serving."""

    status_code = 422
    title: ClassVar[str] = "Model error"
    slug: ClassVar[str] = "model-error"

    def __init__(self, detail: str, **extra: Any) -> None:
        if len(detail) > MODEL_ERROR_DETAIL_CHARS:
            detail = detail[: MODEL_ERROR_DETAIL_CHARS - 1] + "…"
        super().__init__(detail, **extra)


class WorkerUnavailable(Unavailable):
    """503: no live worker (starting, restarting, given up, pool closed), the worker died during the
    request, or the request timed out (its worker is then restarted)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, component="model worker", **extra)
