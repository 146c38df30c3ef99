"""The evaluation sections in a diagnosis: JSON, report and the sentences, each sentence
checked against the numbers it cites (recomputed here from plain masks)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.naive_bayes import GaussianNB

import toolkit as tk
from toolkit.exceptions import ToolkitTypeError
from toolkit.report import summary_sentences

N = 2000
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    truth = rng.random(2 * N)
    y = (rng.random(2 * N) < truth).astype(int)
    said = truth**2 / (truth**2 + (1 - truth) ** 2)  # over-confident
    group = rng.choice(["north", "south"], 2 * N)
    p = tk.Predictions(y[:N], proba=said[:N], features={"region": group[:N]})
    p_cal = tk.Predictions(y[N:], proba=said[N:], ids=np.arange(N, 2 * N))
    older = np.where(rng.random(N) < 0.35, 1 - y[:N], y[:N])  # wrong on ~35% of rows
    human = np.where(rng.random(N) < 0.25, y[:N], -1).astype(object)  # 25% of rows
    human[human == -1] = None
    X = rng.normal(size=(300, 4))
    curve = tk.learning_curve(GaussianNB(), X, (X[:, 0] > 0).astype(int), cv=3)
    options = {
        "references": {EVIL: older, "human": human},
        "calibration": p_cal,
        "learning_curve": curve,
        "cost": [[0, 1], [4, 0]],
        "sections": ["metrics", "thresholds", "calibration_fix", "slices", "learning_curve"],
        "created": "2026-01-01T00:00:00+00:00",
    }
    d = tk.diagnose(p, **options)
    return {"p": p, "older": older, "human": human, "d": d, "options": options}


def test_json_has_every_evaluation_section_and_is_the_same_twice(case):
    d = case["d"]
    data = json.loads(d.to_json())
    for key in ("thresholds", "calibration_fix", "learning_curve"):
        assert data[key] is not None, key
    refs = data["metrics"]["references"]
    assert {r["reference"] for r in refs} == {EVIL, "human"}
    assert data["thresholds"]["objective"] == "cost"
    again = tk.diagnose(case["p"], **case["options"])
    assert again.to_json() == d.to_json()


def test_the_report_escapes_reference_names_and_shows_the_figures(case):
    html = case["d"].to_html()
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for anchor in ('id="thresholds"', 'id="calibration-fix"', 'id="learning-curve"'):
        assert anchor in html
    assert html.count("<svg") >= 6  # 2 calibration + ROC + PR + calibration fix + curve
    for table in ('id="t-references"', 'id="t-slice-references"', 'id="t-thresholds"'):
        assert table in html


def _sentence(d, start: str) -> str:
    """The sentence that starts with ``start`` (the references share one summary line)."""
    found = [s for s in summary_sentences(d) if start in s]
    assert len(found) == 1, summary_sentences(d)
    text = found[0][found[0].index(start) :]
    following = text.find(" Against ", 1)
    return text if following < 0 else text[:following]


def test_the_reference_sentence_cites_the_gap_on_the_rows_both_cover(case):
    d, p = case["d"], case["p"]
    text = _sentence(d, "Against human")
    covered = np.array([h is not None for h in case["human"]])
    human = np.array([-1 if h is None else h for h in case["human"]])
    ours, theirs = p.errors[covered].mean(), (human != p.y_true)[covered].mean()
    assert f"({covered.sum():,} rows both cover)" in text
    assert f"error rate {ours:.1%} for the model, {theirs:.1%} for human" in text
    assert f"gap {100 * (ours - theirs):+.1f} points" in text
    assert text.count("human is ahead") == 1  # humans make no error here
    # the slice named is the one with the largest gap among slices of 30+ covered rows
    gaps = {}
    for region in ("north", "south"):
        rows = covered & (p.feature("region").to_numpy() == region)
        gaps[region] = 100 * (p.errors[rows].mean() - (human != p.y_true)[rows].mean())
    top = max(gaps, key=gaps.get)
    assert f"largest in region = {top}: {gaps[top]:+.1f} points" in text


def test_a_weaker_older_system_reads_as_the_model_ahead(case):
    d, p = case["d"], case["p"]
    text = _sentence(d, f"Against {EVIL}")
    gap = 100 * (p.errors.mean() - (case["older"] != p.y_true).mean())
    assert gap < 0
    assert f"gap {gap:+.1f} points" in text and text.count("the model is ahead") == 1
    low, high = (float(v) for v in re.search(r"95% CI ([-+.\d]+) to ([-+.\d]+)\)", text).groups())
    assert low < high < 0


def test_threshold_calibration_and_curve_sentences_cite_their_results(case):
    d = case["d"]
    t = d.thresholds
    text = _sentence(d, "The threshold of the least cost")
    assert (
        f"is {t.threshold:.3f}: cost {t.value:.4g} there against {t.value_at_default:.4g}" in text
    )
    assert t.value == t.table.loc[t.table["chosen"], "cost"].iloc[0]
    check = d.calibration_fix.table.set_index("metric")
    text = _sentence(d, "Calibration (isotonic)")
    assert f"fitted on {N:,} other rows, lowers the ECE on these {N:,} rows" in text
    assert f"from {check.loc['ece', 'before']:.3f} to {check.loc['ece', 'after']:.3f}" in text
    curve = d.learning_curve
    text = _sentence(d, "The learning curve")
    assert f"by {curve.last_gain:+.4f}" in text
    assert ("still rising" in text) == curve.still_rising


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calibration": [0.2, 0.8]}, "diagnose: calibration must be a Calibrator"),
        ({"learning_curve": {"n_train": [1]}}, "diagnose: learning_curve must be the result"),
        ({"references": [1, 2]}, "diagnose: references must be"),
        ({"business_metric": "f1"}, "diagnose: business_metric must be"),
    ],
)
def test_bad_evaluation_options_are_refused_before_any_work(kwargs, match):
    p = tk.Predictions([0, 1, 1, 0], proba=[0.2, 0.7, 0.6, 0.4])
    with pytest.raises(ToolkitTypeError, match=match):
        tk.diagnose(p, **kwargs)


def test_sections_without_their_inputs_say_why():
    p = tk.Predictions([0, 1, 1, 0], [0, 1, 0, 0])
    d = tk.diagnose(p, sections=["thresholds", "calibration_fix", "learning_curve"])
    assert d.skipped == {
        **{k: v for k, v in d.skipped.items() if v == "not requested"},
        "thresholds": "thresholds need probabilities; only predictions were given",
        "calibration_fix": "no calibration split",
        "learning_curve": "no learning curve was given",
    }


def test_a_calibration_that_does_not_help_says_so():
    from types import SimpleNamespace

    import pandas as pd

    from toolkit.analysis.calibration import CalibrationCheck
    from toolkit.report.evaluation_summary import calibration_fix_sentence

    table = pd.DataFrame(
        {
            "metric": ["ece", "brier", "log_loss"],
            "before": [0.0064, 0.0889, 0.2793],
            "after": [0.0081, 0.0897, 0.2949],
        }
    )
    table["change"] = table["after"] - table["before"]
    check = CalibrationCheck(
        table,
        method="isotonic",
        n_calibration=2000,
        n_test=16281,
        reliability_before=pd.DataFrame(),
        reliability_after=pd.DataFrame(),
    )
    d = SimpleNamespace(results={"calibration_fix": check})
    assert calibration_fix_sentence(d) == (
        "Calibration (isotonic), fitted on 2,000 other rows, does not lower the ECE on these "
        "16,281 rows (0.006 before, 0.008 after; Brier 0.0889 to 0.0897, log loss 0.2793 to "
        "0.2949): keep the probabilities as they are."
    )
