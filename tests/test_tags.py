"""error_sample and rank_error_tags: the manual workflow, with the book's 40/60 × 20% example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.analysis._stats import wilson_interval
from toolkit.exceptions import ColumnNotFoundError, ValidationError


@pytest.fixture
def three_hundred():
    # 300 examples, 60 wrong (20% error); ids are strings to check round trips
    y_true = np.array(["cat"] * 150 + ["dog"] * 150, dtype=object)
    y_pred = y_true.copy()
    wrong = np.arange(0, 300, 5)  # every fifth row: 60 errors
    y_pred[wrong] = np.where(y_true[wrong] == "cat", "dog", "cat")
    ids = [f"img{i:03d}" for i in range(300)]
    return tk.Predictions(y_true, y_pred, ids=ids, features={"light": ["day", "night"] * 150})


def test_forty_of_sixty_blurry_at_twenty_percent_error_is_worth_13_3_points(three_hundred):
    p = three_hundred
    sample = tk.error_sample(p, n=300)
    assert len(sample) == 60 and set(sample["id"]) == set(p.ids[p.errors])
    tags = {i: ("blurry" if k < 40 else "") for k, i in enumerate(sample["id"])}
    r = tk.rank_error_tags(p, tags)
    row = r.iloc[0]
    assert row["tag"] == "blurry" and row["errors"] == 40
    assert row["share_of_errors"] == pytest.approx(40 / 60)
    assert row["gain_pp"] == pytest.approx(40 / 60 * 20, abs=1e-9)  # 13.33 points
    low, high = wilson_interval(np.array([40]), np.array([60]))
    assert row["ci_low"] == pytest.approx(low[0] * 20)
    assert row["ci_high"] == pytest.approx(high[0] * 20)
    assert r.attrs["n_reviewed"] == 60 and r.attrs["n_untagged"] == 20


def test_several_tags_per_row_from_the_annotator_csv(three_hundred, tmp_path):
    p = three_hundred
    sample = tk.error_sample(p, n=30, random_state=1)
    assert len(sample) == 30 and sample["tags"].eq("").all()
    assert list(sample.columns[:3]) == ["id", "y_true", "y_pred"]
    tags = ["blurry;night", "night", " blurry ; night ;", "", "dark"] * 6
    sample["tags"] = tags
    path = tmp_path / "errors.csv"
    sample.to_csv(path, index=False)
    back = pd.read_csv(path)
    r = tk.rank_error_tags(p, back)
    counts = dict(zip(r["tag"], r["errors"]))
    assert counts == {"night": 18, "blurry": 12, "dark": 6}
    assert r["tag"].tolist() == ["night", "blurry", "dark"]
    np.testing.assert_allclose(r["gain_pp"], np.array([18, 12, 6]) / 30 * 20)


def test_error_sample_is_seeded_and_carries_features(three_hundred):
    a = tk.error_sample(three_hundred, n=10, random_state=4)
    b = tk.error_sample(three_hundred, n=10, random_state=4)
    pd.testing.assert_frame_equal(a, b)
    assert "light" in a.columns and a.attrs["n_errors"] == 60


def test_rank_error_tags_rejects_ids_that_are_not_errors(three_hundred):
    with pytest.raises(ValidationError, match="not errors"):
        tk.rank_error_tags(three_hundred, {"img001": "blurry"})
    with pytest.raises(ValidationError, match="not ids"):
        tk.rank_error_tags(three_hundred, {"nope": "blurry"})
    with pytest.raises(ColumnNotFoundError, match="tags"):
        tk.rank_error_tags(three_hundred, pd.DataFrame({"id": ["img000"]}))
    with pytest.raises(ValidationError, match="empty"):
        tk.rank_error_tags(three_hundred, {})
