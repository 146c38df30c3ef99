"""error_sample and rank_error_tags: the manual workflow, with the book's 40/60 × 20% example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.analysis._stats import wilson_interval
from toolkit.analysis.tags import ErrorSample, TagRanking, rank_tag_values
from toolkit.exceptions import (
    ColumnNotFoundError,
    InvalidValueError,
    ToolkitTypeError,
    ValidationError,
)


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
    sample = tk.error_sample(p, n=300).table
    assert len(sample) == 60 and set(sample["id"]) == set(p.ids[p.errors])
    tags = {i: ("blurry" if k < 40 else "") for k, i in enumerate(sample["id"])}
    ranking = tk.rank_error_tags(p, tags)
    r = ranking.table
    row = r.iloc[0]
    assert row["tag"] == "blurry" and row["errors"] == 40
    assert row["share_of_errors"] == pytest.approx(40 / 60)
    assert row["gain_pp"] == pytest.approx(40 / 60 * 20, abs=1e-9)  # 13.33 points
    low, high = wilson_interval(np.array([40]), np.array([60]))
    assert row["ci_low"] == pytest.approx(low[0] * 20)
    assert row["ci_high"] == pytest.approx(high[0] * 20)
    assert ranking.n_reviewed == 60 and ranking.n_untagged == 20
    assert ranking.error_rate == pytest.approx(0.2) and ranking.n_errors == 60


def test_several_tags_per_row_from_the_annotator_csv(three_hundred, tmp_path):
    p = three_hundred
    sample = tk.error_sample(p, n=30, random_state=1).table
    assert len(sample) == 30 and sample["tags"].eq("").all()
    assert list(sample.columns[:3]) == ["id", "y_true", "y_pred"]
    tags = ["blurry;night", "night", " blurry ; night ;", "", "dark"] * 6
    sample["tags"] = tags
    path = tmp_path / "errors.csv"
    sample.to_csv(path, index=False)
    back = pd.read_csv(path)
    r = tk.rank_error_tags(p, back).table
    counts = dict(zip(r["tag"], r["errors"]))
    assert counts == {"night": 18, "blurry": 12, "dark": 6}
    assert r["tag"].tolist() == ["night", "blurry", "dark"]
    np.testing.assert_allclose(r["gain_pp"], np.array([18, 12, 6]) / 30 * 20)


def test_error_sample_is_seeded_and_carries_features(three_hundred):
    a = tk.error_sample(three_hundred, n=10, random_state=4)
    b = tk.error_sample(three_hundred, n=10, random_state=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert "light" in a.table.columns and a.n_errors == 60


def test_rank_error_tags_rejects_ids_that_are_not_errors(three_hundred):
    with pytest.raises(ValidationError, match="not errors"):
        tk.rank_error_tags(three_hundred, {"img001": "blurry"})
    with pytest.raises(ValidationError, match="not ids"):
        tk.rank_error_tags(three_hundred, {"nope": "blurry"})
    with pytest.raises(ColumnNotFoundError, match="tags"):
        tk.rank_error_tags(three_hundred, pd.DataFrame({"id": ["img000"]}))
    with pytest.raises(ValidationError, match="empty"):
        tk.rank_error_tags(three_hundred, {})
    with pytest.raises(ToolkitTypeError, match="rank_error_tags: tags must be"):
        tk.rank_error_tags(three_hundred, ["blurry"])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: tk.error_sample(p, n=0), InvalidValueError, "error_sample: n must be"),
        (lambda p: tk.error_sample(p, n=2.0), ToolkitTypeError, "error_sample: n must be"),
        (lambda p: tk.error_sample(p, n=True), ToolkitTypeError, "error_sample: n must be"),
        (
            lambda p: tk.error_sample(p, random_state=-1),
            InvalidValueError,
            "error_sample: random_state must be",
        ),
        (
            lambda p: tk.error_sample(p, random_state="0"),
            ToolkitTypeError,
            "error_sample: random_state must be",
        ),
        (lambda p: tk.error_sample("p"), ToolkitTypeError, "error_sample: p must be"),
        (
            lambda p: tk.rank_error_tags(p, {}, sep=1),
            ToolkitTypeError,
            "rank_error_tags: sep must be",
        ),
        (
            lambda p: tk.rank_error_tags(p, {"img000": "x"}, sep=""),
            InvalidValueError,
            "rank_error_tags: sep must be a non-empty str",
        ),
        (
            lambda p: tk.rank_error_tags(p, pd.DataFrame({"id": []}), id_column=0),
            ToolkitTypeError,
            "rank_error_tags: id_column must be",
        ),
        (lambda p: rank_tag_values(["a"], 1.5), InvalidValueError, "error_rate must be"),
        (lambda p: rank_tag_values(["a"], float("nan")), InvalidValueError, "error_rate"),
        (lambda p: rank_tag_values(["a"], "0.2"), ToolkitTypeError, "error_rate must be"),
        (lambda p: rank_tag_values("a;b", 0.2), ToolkitTypeError, "values must be"),
        (lambda p: rank_tag_values(["a"], 0.2, n_errors=-1), InvalidValueError, "n_errors"),
        (lambda p: rank_tag_values(["a"], 0.2, sep=""), InvalidValueError, "sep must be"),
    ],
)
def test_bad_parameters_name_the_problem(three_hundred, call, error, match):
    with pytest.raises(error, match=match):
        call(three_hundred)


def test_result_objects_carry_the_counts_and_round_trip_to_json(three_hundred):
    sample = tk.error_sample(three_hundred, n=5, random_state=0)
    assert isinstance(sample, ErrorSample) and len(sample) == 5
    assert (sample.n_errors, sample.error_rate, sample.n) == (60, 0.2, 300)
    assert not sample.table.attrs
    data = sample.to_dict()
    assert data["n_errors"] == 60 and len(data["table"]) == 5
    assert [row["id"] for row in data["table"]] == sample.table["id"].tolist()
    assert all(row["tags"] == "" for row in data["table"])

    # 4 reviewed errors at a 20% error rate: "night" on 2 (10 points), "dark" on 1 (5)
    ranking = rank_tag_values(["night", "night;dark", "", None], 0.2, n_errors=60)
    assert isinstance(ranking, TagRanking)
    assert ranking.meta == {"n_reviewed": 4, "n_untagged": 2, "error_rate": 0.2, "n_errors": 60}
    assert ranking.table["tag"].tolist() == ["night", "dark"]
    assert ranking.table["gain_pp"].tolist() == pytest.approx([10.0, 5.0])
    data = ranking.to_dict()
    assert [row["tag"] for row in data["table"]] == ["night", "dark"]
    assert data["table"][0]["errors"] == 2 and data["n_untagged"] == 2
    assert rank_tag_values(pd.Series(["a"]), 0.5).n_errors is None
