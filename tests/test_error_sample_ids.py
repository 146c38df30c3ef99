"""`toolkit error-sample` on a table with its own `id` column and no --id: the sheet
names the rows by the user's ids (or, when they repeat, keeps the user's column as it is
and numbers the rows under `row`)."""

from __future__ import annotations

import pandas as pd
import pytest

import toolkit as tk
from toolkit.cli import main

# rows 0 and 3 are the errors (pred != label)
TABLE = {
    "label": [0, 1, 0, 1, 0, 1],
    "pred": [1, 1, 0, 0, 0, 1],
    "x": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
}


def _sample(tmp_path, frame, *extra):
    path, out = tmp_path / "scored.csv", tmp_path / "errors.csv"
    frame.to_csv(path, index=False)
    args = ["error-sample", str(path), "--target", "label", "--pred", "pred", "--out", str(out)]
    assert main([*args, *extra]) == 0
    return pd.read_csv(out, keep_default_na=False)


def test_a_unique_id_column_is_the_ids_of_the_sheet(tmp_path, capsys):
    frame = pd.DataFrame({"id": ["img-a", "img-b", "img-c", "img-d", "img-e", "img-f"], **TABLE})
    sheet = _sample(tmp_path, frame)
    assert sheet.columns.tolist() == ["id", "y_true", "y_pred", "x", "tags", "overall_error_rate"]
    assert sheet["id"].tolist() == ["img-a", "img-d"] and sheet["x"].tolist() == [1.5, 4.5]
    # tagged by those ids, the sheet ranks on the command line and in Python alike
    sheet["tags"] = ["blurry", "blurry;dark"]
    sheet.to_csv(tmp_path / "tagged.csv", index=False)
    assert main(["rank-tags", str(tmp_path / "tagged.csv"), "--tags", "tags"]) == 0
    assert "blurry" in capsys.readouterr().out
    p = tk.Predictions.from_frame(frame, target="label", pred="pred")
    ranking = tk.rank_error_tags(p, sheet).table
    assert dict(zip(ranking["tag"], ranking["errors"], strict=True)) == {"blurry": 2, "dark": 1}
    assert ranking["gain_pp"].tolist() == pytest.approx([2 / 2 * 2 / 6 * 100, 1 / 2 * 2 / 6 * 100])


def test_a_repeating_id_column_keeps_its_name_and_the_rows_are_numbered(tmp_path):
    frame = pd.DataFrame({"id": [7, 7, 8, 8, 9, 9], **TABLE})
    sheet = _sample(tmp_path, frame)
    assert sheet.columns.tolist() == [
        "row",
        "y_true",
        "y_pred",
        "id",
        "x",
        "tags",
        "overall_error_rate",
    ]
    assert sheet["row"].tolist() == [0, 3] and sheet["id"].tolist() == [7, 8]
    p = tk.Predictions.from_frame(frame, target="label", pred="pred")
    sheet["tags"] = ["night", ""]
    ranking = tk.rank_error_tags(p, sheet)  # by `row`, the column the sheet names rows in
    assert ranking.table["tag"].tolist() == ["night"] and ranking.n_untagged == 1


def test_with_id_named_the_users_other_id_column_is_a_feature(tmp_path):
    frame = pd.DataFrame({"id": list("abcdef"), "key": [10, 11, 12, 13, 14, 15], **TABLE})
    sheet = _sample(tmp_path, frame, "--id", "key")
    assert sheet["id"].tolist() == [10, 13] and sheet["feature_id"].tolist() == ["a", "d"]
