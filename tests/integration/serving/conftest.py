"""Real MLflow models for the model worker tests, saved once per session into temporary folders.

- `lr`: scikit-learn LogisticRegression on 10 float columns, with a signature and an input example (saved
  with MLflow's defaults, as a user's `log_model` would).
- `behaviours`: a pyfunc model from code (`BEHAVIOURS`) on one string column `x` that answers `<x>!` per
  row, unless a row holds a marker: `raise` (ValueError), `print` (writes to stdout, by Python and on fd
  1), `allocate` (4 GB), `slow` (sleeps 1 s), `hang` (sleeps 60 s).
- `missing_flavor`: an MLmodel whose loader module is not installed; `xgboost`: MLflow's xgboost flavor,
  without xgboost installed; `no_mlmodel`: a folder of junk;
  `garbage_mlmodel`: an MLmodel that is not YAML.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BEHAVIOURS = """
import os
import sys
import time

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class Behaviours(PythonModel):
    def predict(self, context, model_input, params=None):
        values = list(model_input["x"])
        if "raise" in values:
            raise ValueError("the marker value 'raise' was seen")
        if "print" in values:
            print("a model that prints to stdout")
            sys.stdout.flush()
            os.write(1, b"and writes on fd 1 directly\\n")
        if "allocate" in values:
            np.ones(4 * 2**30 // 8)
        if "slow" in values:
            time.sleep(1)
        if "hang" in values:
            time.sleep(60)
        return [f"{value}!" for value in values]


mlflow.models.set_model(Behaviours())
"""

MISSING_FLAVOR_MLMODEL = """\
flavors:
  python_function:
    loader_module: mlplatform_test_flavor_that_is_not_installed
    python_version: 3.11.7
  flavor_that_is_not_installed:
    version: 1.0
mlflow_version: 3.17.2
"""

XGBOOST_MLMODEL = """\
flavors:
  python_function:
    loader_module: mlflow.xgboost
    data: model.xgb
    python_version: 3.11.7
  xgboost:
    code: null
    data: model.xgb
    model_class: xgboost.sklearn.XGBClassifier
    model_format: xgb
    xgb_version: 2.1.4
mlflow_version: 3.17.2
"""
"""An MLflow flavor whose library (xgboost) is not installed: MLflow's own loader fails to import it."""


@dataclass(frozen=True)
class Models:
    lr: Path
    lr_model: Any
    """The fitted scikit-learn model, to compare the workers' answers with."""
    behaviours: Path
    missing_flavor: Path
    xgboost: Path
    no_mlmodel: Path
    garbage_mlmodel: Path

    @staticmethod
    def columns() -> list[str]:
        return [f"f{i}" for i in range(10)]


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("models")
    features = pd.DataFrame(np.random.default_rng(7).normal(size=(300, 10)), columns=Models.columns())
    target = (features.f0 + 0.5 * features.f1 - features.f2 > 0).astype(int)
    lr_model = LogisticRegression().fit(features, target)
    mlflow.sklearn.save_model(
        lr_model,
        root / "lr",
        signature=infer_signature(features, lr_model.predict(features)),
        input_example=features.head(3),
    )

    code = root / "behaviours_code.py"
    code.write_text(BEHAVIOURS)
    example = pd.DataFrame({"x": ["a", "b"]})
    mlflow.pyfunc.save_model(
        root / "behaviours",
        python_model=str(code),
        signature=infer_signature(example, ["a!", "b!"]),
        input_example=example,
    )

    missing_flavor = root / "missing_flavor"
    missing_flavor.mkdir()
    (missing_flavor / "MLmodel").write_text(MISSING_FLAVOR_MLMODEL)
    xgboost = root / "xgboost"
    xgboost.mkdir()
    (xgboost / "MLmodel").write_text(XGBOOST_MLMODEL)
    (xgboost / "model.xgb").write_bytes(b"{}")
    no_mlmodel = root / "no_mlmodel"
    no_mlmodel.mkdir()
    (no_mlmodel / "model.pkl").write_bytes(b"\x00 not a model \xff")
    garbage = root / "garbage_mlmodel"
    garbage.mkdir()
    (garbage / "MLmodel").write_text("flavors: [this is {not: yaml\n\t::")
    return Models(
        lr=root / "lr",
        lr_model=lr_model,
        behaviours=root / "behaviours",
        missing_flavor=missing_flavor,
        xgboost=xgboost,
        no_mlmodel=no_mlmodel,
        garbage_mlmodel=garbage,
    )


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
