"""Response bodies of `POST .../predict`.

MLflow's scoring server answers `{"predictions": ...}`, with the model's output made JSON as MLflow makes
it (`_get_jsonable_obj`): a numpy array as nested lists, a DataFrame as a list of records, a Series as the
records of a one-column frame. A client of `mlflow models serve` reads the platform's answer the same way.
The platform adds members only when features were joined (or the client asked for them): the version that
answered, the deployment, and per row the status of every joined feature. Two differences from MLflow's
encoder, both toward valid JSON: NaN and infinities are null (MLflow writes the non-JSON `NaN`), and bytes
are base64 without line breaks.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import UNSET, Meta, UnsetType

FeatureStatus = Literal["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]


class JoinedFeatures(msgspec.Struct, kw_only=True, frozen=True):
    """The online features joined into the model input, and how each row's value was found."""

    names: Annotated[
        list[str], Meta(description="The joined features, as the feature service names them (`view:feature`).")
    ]
    statuses: Annotated[
        list[list[FeatureStatus]],
        Meta(
            description="One list per row, aligned with `predictions`; in it, one status per name in `names`: "
            "PRESENT, NULL_VALUE (stored as null), NOT_FOUND (no value for the entity) or OUTSIDE_MAX_AGE "
            "(older than the feature view's TTL)."
        ),
    ]


class PredictResponse(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A prediction answer: MLflow's scoring-server body, and when features were joined, what answered
    and how the features were found."""

    predictions: Annotated[
        Any, Meta(description="The model's output, one item per row, as `mlflow models serve` answers it.")
    ]
    version: Annotated[int, Meta(description="The model version that answered.")] | UnsetType = UNSET
    deployment_id: Annotated[uuid.UUID, Meta(description="The deployment that answered.")] | UnsetType = UNSET
    features: JoinedFeatures | UnsetType = UNSET


def jsonable(predictions: Any) -> Any:
    """A model's output as MLflow's scoring server puts it under `predictions` (numpy, pandas or plain)."""
    module = type(predictions).__module__
    if module.startswith("numpy"):
        return predictions.tolist() if hasattr(predictions, "tolist") else predictions
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(predictions, pd.Series):
            predictions = predictions.to_frame()
        if isinstance(predictions, pd.DataFrame):
            return predictions.to_dict(orient="records")
    return predictions


def joined_features(names: Sequence[str], column_statuses: Sequence[Sequence[str]]) -> JoinedFeatures:
    """`JoinedFeatures` from Feast's columnar statuses (`column_statuses[j][i]`: feature j, row i)."""
    rows = [list(row) for row in zip(*column_statuses, strict=True)]
    return JoinedFeatures(names=list(names), statuses=cast(list[list[FeatureStatus]], rows))


def predict_response(
    predictions: Any,
    *,
    version: int | None = None,
    deployment_id: uuid.UUID | None = None,
    features: JoinedFeatures | None = None,
) -> bytes:
    """The response body: `{"predictions": ...}`, plus the members given."""
    answer = PredictResponse(
        predictions=jsonable(predictions),
        version=UNSET if version is None else version,
        deployment_id=UNSET if deployment_id is None else deployment_id,
        features=UNSET if features is None else features,
    )
    return _encoder.encode(answer)


def _encode_other(value: Any) -> Any:
    """What msgspec cannot encode itself, as MLflow's `NumpyEncoder` makes it JSON."""
    if type(value).__name__ == "datetime64":  # its tolist() is an int at nanosecond precision
        import numpy as np

        return np.datetime_as_string(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, datetime.date | datetime.time) or hasattr(value, "isoformat"):
        return value.isoformat()  # pandas' Timestamp, a datetime subclass msgspec does not take
    raise TypeError(f"a prediction of type {type(value).__name__} cannot be encoded as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_encode_other)
