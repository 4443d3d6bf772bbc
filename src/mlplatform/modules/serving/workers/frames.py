"""The model's DataFrame from request columns, and when MLflow's schema enforcement can be skipped (child side).

MLflow's scoring server builds a frame from JSON, casts it to the signature (`cast_df_types_according_to_schema`)
and `PyFuncModel.predict` then enforces the signature (`_enforce_schema`). For a one-row frame of ten numbers
those two steps cost several times the model itself (measured: cast ~1.4 ms, enforcement ~1.1 ms, a scikit-learn
`predict` ~0.8 ms on a busy 2-core machine). When the signature is plain numeric and boolean columns, the
frame can be built exactly as enforcement would leave it: every signature column, in signature order, with the
signature's dtype, through numpy (a JSON `4` for a `double` column becomes 4.0, as MLflow's cast makes it). Such
a frame goes straight to the flavor's predict function; anything else (a missing or extra column, a string in a
number column, a null in an integer column, params, other column types, tensor or type-hint signatures) takes
MLflow's full path, which also gives MLflow's own error messages.

A scikit-learn model with only float columns can go one step further: scikit-learn checks a DataFrame's
column names and converts it on every call (most of a small model's `predict`), so such a frame is passed as
the 2-D array of its values, in signature order. That is only done when the model's input example predicts
the same both ways at load (`calibrate`): a pipeline that selects columns by name, or a model trained on
columns in another order, keeps the DataFrame.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

NUMPY_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}
"""MLflow column types whose enforced pandas dtype is one numpy dtype (MLflow's `DataType.to_pandas`)."""


class FramePlan:
    """How this model's frames are built, decided once at load."""

    def __init__(self, model: PyFuncModel) -> None:
        import numpy as np
        import pandas as pd

        self.np, self.pd = np, pd
        self.columns: list[tuple[str, Any]] | None = None
        self.predict_fn: Callable[[Any], Any] | None = None
        schema = model.metadata.get_input_schema()
        if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
            return
        if model.metadata._is_signature_from_type_hint() or model.metadata.get_params_schema() is not None:
            return
        specs = [(spec.name, NUMPY_TYPES.get(getattr(spec.type, "name", ""))) for spec in schema.inputs]
        if any(dtype is None for _, dtype in specs):
            return
        self.columns = [(name, np.dtype(dtype)) for name, dtype in specs]
        self.predict_fn = getattr(model, "_predict_fn", None)
        self.as_array = False
        """Pass exact frames as their 2-D array of values (set by `calibrate`)."""

    def calibrate(self, model: PyFuncModel, example: Any) -> None:
        """Enable the array path for a scikit-learn model with only float columns when its input example predicts
        the same through the DataFrame and through the array."""
        if self.columns is None or self.predict_fn is None or example is None:
            return
        if getattr(model, "loader_module", None) != "mlflow.sklearn" or any(d.kind != "f" for _, d in self.columns):
            return
        if not isinstance(example, self.pd.DataFrame) or not all(name in example for name, _ in self.columns):
            return
        frame = self.exact({name: example[name].tolist() for name, _ in self.columns})
        if frame is None:
            return
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                by_frame = self.np.asarray(self.predict_fn(frame))
                by_array = self.np.asarray(self.predict_fn(frame.to_numpy()))
        except Exception:  # the model needs its DataFrame (columns selected by name ...)
            return
        if by_frame.shape == by_array.shape and self.np.array_equal(by_frame, by_array):
            self.as_array = True
            # scikit-learn warns on every array call of a model fitted with feature names
            warnings.filterwarnings("ignore", message="X does not have valid feature names")

    def predict_exact(self, exact: Any) -> Any:
        """`predict` of what `exact` built (a DataFrame, or its array once calibrated)."""
        assert self.predict_fn is not None
        return self.predict_fn(exact)

    def exact(self, columns: dict[str, list[Any]]) -> Any | None:
        """The frame MLflow's enforcement would produce (as its 2-D array of values once `calibrate` allowed it),
        or None when MLflow's own path must build it."""
        if self.columns is None or self.predict_fn is None or len(columns) != len(self.columns):
            return None
        built = {}
        for name, dtype in self.columns:
            values = columns.get(name)
            if values is None:
                return None
            try:
                array = self.np.asarray(values, dtype=dtype) if dtype.kind == "f" else self._strict(values, dtype)
            except (TypeError, ValueError):
                return None
            if array is None or array.ndim != 1:
                return None
            built[name] = array
        if self.as_array:
            return self.np.column_stack(list(built.values()))
        return self.pd.DataFrame(built, copy=False)

    def _strict(self, values: list[Any], dtype: Any) -> Any | None:
        """Integers and booleans only from values of that very kind (MLflow refuses 1.5 for a `long`, 1 for a
        `boolean`); None otherwise."""
        kind = bool if dtype.kind == "b" else int
        if any(type(value) is not kind for value in values):
            return None
        return self.np.asarray(values, dtype=dtype)
