"""Serving: managed deployments answer predictions (model workers, feature join)."""

from __future__ import annotations

from mlplatform.kernel.module import Module
from mlplatform.modules.serving.controllers import PREDICT_HANDLERS
from mlplatform.modules.serving.export_routes import EXPORT_HANDLERS
from mlplatform.modules.serving.label_routes import LABEL_HANDLERS
from mlplatform.modules.serving.oip_routes import OIP_HANDLERS
from mlplatform.modules.serving.runtime import build_runtime, deployments_subscriber

module = Module(
    name="serving",
    runtime=build_runtime,
    route_handlers=[*PREDICT_HANDLERS, *OIP_HANDLERS, *EXPORT_HANDLERS, *LABEL_HANDLERS],
    subscribers=lambda platform: [deployments_subscriber(platform)],
    openapi_tags=[
        (
            "serving",
            "Predictions from managed deployments: MLflow scoring formats, online features joined by entity key, "
            "traffic shares; the Open Inference Protocol v2 under /v2.",
        )
    ],
)
