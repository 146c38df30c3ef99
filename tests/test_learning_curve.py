"""Learning curve: scikit-learn's curve kept as a result, whether it still rises, and the
logging to the run of an enclosing ``track`` block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import loaded_modules
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import learning_curve as sk_learning_curve
from sklearn.naive_bayes import GaussianNB

import toolkit as tk
from toolkit.exceptions import InvalidValueError, ToolkitTypeError, ValidationError


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


def test_the_table_is_sklearns_curve_on_the_same_folds(digits):
    X, y = digits
    curve = tk.learning_curve(GaussianNB(), X, y, train_sizes=[40, 160, 640], cv=4)
    folds = StratifiedKFold(4, shuffle=True, random_state=0)
    sizes, train, test = sk_learning_curve(
        GaussianNB(), X, y, train_sizes=[40, 160, 640], cv=folds, shuffle=True, random_state=0
    )
    t = curve.table
    assert t["n_train"].tolist() == sizes.tolist() == [40, 160, 640]
    assert t["score_mean"].to_numpy() == pytest.approx(test.mean(axis=1))
    assert t["score_std"].to_numpy() == pytest.approx(test.std(axis=1))
    assert t["train_score_mean"].to_numpy() == pytest.approx(train.mean(axis=1))
    step = test[-1] - test[-2]
    half = stats.t.ppf(0.975, 3) * step.std(ddof=1) / 2
    assert curve.last_gain == pytest.approx(step.mean())
    assert (curve.last_gain_ci_low, curve.last_gain_ci_high) == pytest.approx(
        (step.mean() - half, step.mean() + half)
    )
    assert curve.still_rising == (step.mean() - half > 0)
    assert curve.scoring == "accuracy" and curve.cv == 4


def test_a_curve_that_still_rises_and_one_that_is_flat(digits):
    X, y = digits
    rising = tk.learning_curve(GaussianNB(), X, y, train_sizes=[20, 1000], cv=3)
    assert rising.last_gain > 0.1 and rising.still_rising
    flat = tk.learning_curve(DummyClassifier(), X, y, train_sizes=[200, 1000], cv=3)
    assert flat.last_gain == pytest.approx(0.0, abs=0.01) and not flat.still_rising


def test_same_seed_same_curve(digits):
    X, y = digits
    a = tk.learning_curve(GaussianNB(), X, y, train_sizes=[50, 300], cv=3, random_state=7)
    b = tk.learning_curve(GaussianNB(), X, y, train_sizes=[50, 300], cv=3, random_state=7)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_bad_inputs_are_named(digits):
    X, y = digits
    with pytest.raises(ToolkitTypeError, match="learning_curve: estimator must be"):
        tk.learning_curve("GaussianNB", X, y)
    with pytest.raises(InvalidValueError, match="learning_curve: cv must be"):
        tk.learning_curve(GaussianNB(), X, y, cv=1)
    with pytest.raises(ValidationError, match="learning_curve: scikit-learn refused the inputs"):
        tk.learning_curve(GaussianNB(), X, y, train_sizes=[10**6], cv=3)


def test_outside_a_run_nothing_is_logged_and_mlflow_is_not_loaded():
    code = (
        "import numpy as np, toolkit as tk\n"
        "from sklearn.naive_bayes import GaussianNB\n"
        "X = np.random.default_rng(0).normal(size=(60, 2)); y = np.arange(60) % 2\n"
        "tk.learning_curve(GaussianNB(), X, y, train_sizes=[20, 40], cv=3)\n"
    )
    assert loaded_modules(code, {"mlflow"}) == set()


def test_inside_track_the_curve_is_logged_to_the_run(tmp_path, monkeypatch, digits):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("TOOLKIT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    X, y = digits
    with tk.track("curves", tracking_uri=uri) as run:
        curve = tk.learning_curve(GaussianNB(), X, y, train_sizes=[50, 400], cv=3)
    client = MlflowClient(tracking_uri=uri)
    history = client.get_metric_history(run.run_id, "learning_curve.score_mean")
    logged = sorted((m.step, m.value) for m in history)
    assert [step for step, _ in logged] == curve.table["n_train"].tolist()
    assert [value for _, value in logged] == pytest.approx(curve.table["score_mean"].tolist())
    local = client.download_artifacts(run.run_id, "learning_curve.json", str(tmp_path / "dl"))
    stored = json.loads(Path(local).read_text(encoding="utf-8"))
    assert [r["n_train"] for r in stored["table"]] == [50, 400]
    assert stored["still_rising"] == curve.still_rising
