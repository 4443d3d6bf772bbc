"""The exact-frame fast path of the model workers gives what MLflow's full path gives, and declines the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlplatform.modules.serving.workers.frames import FramePlan

COLUMNS = ["amount", "count", "flag"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"amount": rng.random(50), "count": rng.integers(0, 9, 50), "flag": rng.random(50) > 0.5})
    labels = (frame["amount"] > 0.5).astype("int64")
    fitted = LogisticRegression().fit(frame, labels)
    path = Path(tmp_path_factory.mktemp("frames")) / "model"
    mlflow.sklearn.save_model(fitted, str(path), signature=infer_signature(frame, fitted.predict(frame)))
    return mlflow.pyfunc.load_model(str(path))


def test_an_exact_frame_predicts_as_mlflow_does(model: Any) -> None:
    plan = FramePlan(model)
    columns = {"flag": [True, False, True], "count": [1, 4, 8], "amount": [0.1, 0.9, 4]}  # another order, a JSON 4
    exact = plan.exact(columns)
    assert exact is not None
    assert list(exact.columns) == COLUMNS
    assert [str(t) for t in exact.dtypes] == ["float64", "int64", "bool"]
    assert plan.predict_fn is not None
    expected = model.predict(pd.DataFrame(columns)[COLUMNS].astype({"amount": "float64"}))
    assert plan.predict_fn(exact).tolist() == expected.tolist()


@pytest.mark.parametrize(
    "columns",
    [
        {"amount": [0.1], "count": [1]},  # a column missing
        {"amount": [0.1], "count": [1], "flag": [True], "extra": [1]},  # one too many
        {"amount": ["high"], "count": [1], "flag": [True]},  # a string for a number
        {"amount": [0.1], "count": [1.5], "flag": [True]},  # a fraction for an integer
        {"amount": [0.1], "count": [None], "flag": [True]},  # a null for an integer
        {"amount": [0.1], "count": [1], "flag": [1]},  # a number for a boolean
        {"amount": [[0.1]], "count": [1], "flag": [True]},  # nested
    ],
)
def test_anything_else_takes_mlflows_path(model: Any, columns: dict[str, list[Any]]) -> None:
    assert FramePlan(model).exact(columns) is None


def test_a_model_without_a_column_signature_has_no_fast_path(tmp_path: Path) -> None:
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    mlflow.pyfunc.save_model(str(tmp_path / "echo"), python_model=Echo())
    plan = FramePlan(mlflow.pyfunc.load_model(str(tmp_path / "echo")))
    assert plan.exact({"a": [1.0]}) is None


def test_a_float_sklearn_model_takes_arrays_once_its_example_agrees(tmp_path: Path) -> None:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.random((40, 3)), columns=["a", "b", "c"])
    fitted = LogisticRegression().fit(frame, (frame["a"] > 0.5).astype("int64"))
    mlflow.sklearn.save_model(
        fitted, str(tmp_path / "m"), signature=infer_signature(frame), input_example=frame.head(2)
    )
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    plan = FramePlan(model)
    plan.calibrate(model, frame.head(2))
    assert plan.as_array
    columns = {name: frame[name].tolist() for name in ("c", "a", "b")}  # any order: the signature's is used
    exact = plan.exact(columns)
    assert isinstance(exact, np.ndarray)
    assert plan.predict_exact(exact).tolist() == model.predict(frame).tolist()


def test_a_model_trained_on_columns_in_another_order_keeps_its_dataframe(tmp_path: Path) -> None:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.random((40, 2)), columns=["x", "y"])
    fitted = LinearRegression().fit(frame, frame["x"] * 3 - frame["y"])
    reversed_signature = ModelSignature(inputs=Schema([ColSpec("double", "y"), ColSpec("double", "x")]))
    mlflow.sklearn.save_model(fitted, str(tmp_path / "m"), signature=reversed_signature)
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    plan = FramePlan(model)
    plan.calibrate(model, frame[["y", "x"]].head(3))
    assert not plan.as_array  # the array in signature order would swap x and y (the frame is refused by name)
    assert isinstance(plan.exact({"x": [1.0], "y": [2.0]}), pd.DataFrame)
