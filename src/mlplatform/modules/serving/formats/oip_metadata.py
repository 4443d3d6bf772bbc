"""Open Inference Protocol v2 metadata and error bodies: `GET /v2`, `GET /v2/models/{name}[/versions/{v}]`,
and `{"error": "..."}`, which v2 answers for every failure on its paths."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version as package_version

import msgspec

from mlplatform.modules.serving.formats.oip_tensors import MLFLOW_TYPES

EXTENSIONS = ("binary_tensor_data",)


class MetadataTensor(msgspec.Struct):
    name: str
    datatype: str
    shape: list[int]
    """-1 for a dimension of any size (the batch)."""


class ModelMetadata(msgspec.Struct):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ServerMetadata(msgspec.Struct):
    name: str
    version: str
    extensions: list[str]


class ErrorBody(msgspec.Struct):
    error: str


Spec = tuple[str, str] | tuple[str, str, Sequence[int]]
"""A signature entry: (name, MLflow type) for a column, (name, numpy dtype name, shape) for a tensor."""


def datatype_of(mlflow_type: str) -> str:
    """The v2 datatype of an MLflow column type (`double`, `long` ...) or tensor dtype (`float32` ...);
    types v2 has no datatype for (datetime, arrays, objects) travel as BYTES."""
    return MLFLOW_TYPES.get(mlflow_type, "BYTES")


def metadata_tensors(specs: Sequence[Spec]) -> list[MetadataTensor]:
    tensors = []
    for spec in specs:
        shape = list(spec[2]) if len(spec) == 3 else [-1]
        tensors.append(MetadataTensor(spec[0], datatype_of(spec[1]), shape))
    return tensors


def model_metadata(
    name: str,
    versions: Sequence[str | int],
    *,
    inputs: Sequence[Spec],
    outputs: Sequence[Spec] = (("predict", "double"),),
    platform: str = "mlflow",
) -> bytes:
    """The model metadata body. Without an output signature, one output `predict` (what `infer_response`
    names an unnamed prediction) of type double: say otherwise when the signature knows."""
    body = ModelMetadata(
        name, [str(v) for v in versions], platform, metadata_tensors(inputs), metadata_tensors(outputs)
    )
    return msgspec.json.encode(body)


def server_metadata(name: str = "mlplatform", version: str | None = None) -> bytes:
    """The server metadata body: the platform's name, its package version, and the extensions it serves."""
    return msgspec.json.encode(ServerMetadata(name, version or package_version("mlplatform"), list(EXTENSIONS)))


def error_body(message: str) -> bytes:
    return msgspec.json.encode(ErrorBody(message))
