"""The book's worked numbers, reproduced through the public API.

- Error analysis by hand: 60 errors in 300 examples; 40 of them blurry is worth
  40/60 × 60/300 = 13.3 points of error, 5 at night 5/60 × 60/300 = 1.7 points.
- A pipeline of three stages right 95%, 90% and 85% of the time is right
  0.95 × 0.90 × 0.85 = 0.727 of the time when their errors are independent.
- A 10-bin reliability diagram on hand-made scores.
"""

from __future__ import annotations

import numpy as np
import pytest

import toolkit as tk
from toolkit.analysis.metrics import reliability_curves


def test_sixty_errors_in_three_hundred_forty_blurry_and_five_at_night():
    y = np.zeros(300, dtype=int)
    pred = y.copy()
    pred[:60] = 1  # 60 errors
    p = tk.Predictions(y, pred, classes=[0, 1])
    tags = {i: ("blurry" if i < 40 else "night" if i < 45 else "") for i in range(60)}
    table = tk.rank_error_tags(p, tags).table.set_index("tag")
    assert table.loc["blurry", "gain_pp"] == pytest.approx(40 / 60 * 60 / 300 * 100)
    assert round(table.loc["blurry", "gain_pp"], 1) == 13.3
    assert table.loc["night", "gain_pp"] == pytest.approx(5 / 60 * 60 / 300 * 100)
    assert round(table.loc["night", "gain_pp"], 1) == 1.7


def test_three_independent_stages_at_95_90_85_percent_give_73_percent():
    # a 20 x 10 x 20 grid of rows: each stage is wrong on its own fraction of one axis,
    # so the three stages' errors are exactly independent
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(20), np.arange(10), np.arange(20)))
    wrong = (i < 1, j < 1, k < 3)  # 1/20, 1/10, 3/20
    x = np.arange(i.size)

    def stage(name, upstream, wrong_here):
        def run(inputs, up):
            before = inputs if upstream is None else up[upstream]
            return np.where((before < 0) | wrong_here[inputs], -1, before)

        return tk.Stage(name, run)

    stages = [
        stage("detect", None, wrong[0]),
        stage("crop", "detect", wrong[1]),
        stage("read", "crop", wrong[2]),
    ]
    result = tk.analyze_chain(stages, x, x, oracles={"detect": x, "crop": x}, n_boot=0)
    scores = result.table[result.table["kind"] == "single"].set_index("stage")["stage_score"]
    assert scores.loc["detect"] == pytest.approx(0.95)
    assert scores.loc["crop"] == pytest.approx(0.90)
    assert scores.loc["read"] == pytest.approx(0.85)
    assert result.independence_estimate == pytest.approx(0.95 * 0.90 * 0.85)
    assert result.system_score == pytest.approx(0.95 * 0.90 * 0.85)  # independent: equal
    assert round(result.system_score, 2) == 0.73


def test_ten_bin_reliability_diagram_of_the_book():
    # one bin per tenth; in bin b, 10 rows scored b/10 + 0.05 of which b + 1 positive
    scores = np.repeat(np.arange(10) / 10 + 0.05, 10)
    y = np.concatenate([[1] * (b + 1) + [0] * (9 - b) for b in range(10)])
    curve = reliability_curves(tk.Predictions(y, proba=scores), n_bins=10)
    assert curve["n"].tolist() == [10] * 10
    assert curve["mean_score"].to_numpy() == pytest.approx(np.arange(10) / 10 + 0.05)
    assert curve["fraction_positive"].to_numpy() == pytest.approx((np.arange(10) + 1) / 10)
    m = tk.compute_metrics(tk.Predictions(y, proba=scores), n_bins=10)
    assert m.reliability["fraction_positive"].to_numpy() == pytest.approx((np.arange(10) + 1) / 10)
