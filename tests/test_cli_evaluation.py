"""`toolkit diagnose --reference/--cost/--calibration` (issue 18): the options of the
evaluation API on the command line, on a ten-row table whose numbers are checked by hand,
and every bad value refused in one line with the output left unwritten."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest

from toolkit.cli import main

# y 0 on rows 1-5, 1 on rows 6-10; the model's p(1) errs at 0.5 on rows 5, 6 and 7.
# 'human' labelled rows 1-6 only, all right; v1 is the model but wrong on row 1 too.
TABLE = """\
id,group,y,p_0,p_1,human,v1_p_0,v1_p_1
1,a,0,0.9,0.1,0,0.4,0.6
2,a,0,0.8,0.2,0,0.8,0.2
3,a,0,0.7,0.3,0,0.7,0.3
4,a,0,0.6,0.4,0,0.6,0.4
5,b,0,0.4,0.6,0,0.4,0.6
6,b,1,0.65,0.35,1,0.65,0.35
7,b,1,0.55,0.45,,0.55,0.45
8,b,1,0.3,0.7,,0.3,0.7
9,b,1,0.2,0.8,,0.2,0.8
10,b,1,0.1,0.9,,0.1,0.9
"""
#: A calibration split: other rows (ids 101-108), the same columns.
CALIBRATION = """\
id,y,p_0,p_1
101,0,0.9,0.1
102,0,0.7,0.3
103,0,0.5,0.5
104,0,0.3,0.7
105,1,0.6,0.4
106,1,0.4,0.6
107,1,0.2,0.8
108,1,0.1,0.9
"""
BASE = ["--target", "y", "--proba", "p_*", "--id", "id", "--quiet"]


@pytest.fixture
def files(tmp_path):
    table, calibration = tmp_path / "test.csv", tmp_path / "calib.csv"
    table.write_text(TABLE)
    calibration.write_text(CALIBRATION)
    return table, calibration


def _run(table, out, *extra, sections="metrics,thresholds,calibration_fix,slices"):
    return main(["diagnose", str(table), *BASE, "--sections", sections, "--json", str(out), *extra])


def test_references_cost_and_calibration_reach_the_json(files, tmp_path, capsys):
    table, calibration = files
    out = tmp_path / "d.json"
    extra = ["--reference", "human=human", "--reference", "v1=v1_p_*", "--cost", "1,5"]
    assert _run(table, out, *extra, "--calibration", str(calibration)) == 0, capsys.readouterr()
    data = json.loads(out.read_text("utf-8"))
    # the references' columns are not features
    assert data["meta"]["features"] == ["group"]
    gaps = {(r["reference"], r["metric"]): r for r in data["metrics"]["references"]}
    # human: 6 rows, the model wrong on 2 of them (rows 5, 6), human on none: +1/3 ahead
    human = gaps["human", "error_rate"]
    assert human["n"] == 6 and human["reference_value"] == 0.0
    assert human["gap"] == pytest.approx(2 / 6)
    # v1: every row, wrong on 4 (rows 1, 5, 6, 7) against the model's 3: the model is ahead
    v1 = gaps["v1", "error_rate"]
    assert v1["n"] == 10 and v1["reference_value"] == pytest.approx(0.4)
    assert v1["gap"] == pytest.approx(-0.1)
    # FP 1, FN 5: at 0.35 two false positives (0.4, 0.6) and no false negative, cost 2;
    # at 0.5 one false positive and two false negatives, cost 11
    thresholds = data["thresholds"]
    assert (thresholds["objective"], thresholds["threshold"]) == ("cost", 0.35)
    assert (thresholds["value"], thresholds["value_at_default"]) == (2.0, 11.0)
    fix = data["calibration_fix"]
    assert (fix["method"], fix["n_calibration"], fix["n_test"]) == ("isotonic", 8, 10)
    rows = {r["metric"]: r for r in fix["table"]}
    assert set(rows) == {"ece", "brier", "log_loss"}
    assert set(rows["brier"]) == {"metric", "before", "after", "change"}
    # before: the mean squared error of p(1), (.01+.04+.09+.16+.36+.4225+.3025+.09+.04+.01)/10
    assert rows["brier"]["before"] == pytest.approx(0.1525)


def test_the_cost_matrix_form_gives_the_same_threshold(files, tmp_path, capsys):
    table, _ = files
    out = tmp_path / "d.json"
    assert _run(table, out, "--cost", "0,1,5,0", sections="thresholds") == 0
    assert json.loads(out.read_text("utf-8"))["thresholds"]["threshold"] == 0.35
    # a false positive dearer than a false negative moves it up: 0.7 (two FN, cost 2 x 1)
    assert _run(table, out, "--cost", "5,1", sections="thresholds") == 0
    assert json.loads(out.read_text("utf-8"))["thresholds"]["threshold"] == 0.7


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--reference", "human=nope"], "--reference human: .* has no column 'nope'; it has"),
        (["--reference", "v1=zz_*"], "--reference v1: .* has no column matching 'zz_\\*'"),
        (["--reference", "human="], "--reference 'human=' names no column"),
        (["--reference", "human"], "--reference takes NAME=COLUMN .*got 'human'"),
        (["--reference", "=human"], "--reference takes NAME=COLUMN"),
        (["--reference", "h=human", "--reference", "h=v1_p_*"], "--reference 'h' is given twice"),
        (["--reference", "me=y"], "column 'y' is the model's own \\(--target\\)"),
        (["--reference", "me=p_*"], "column 'p_0' is the model's own \\(--proba\\)"),
        (["--reference", "v1=v1_*"], "name the classes \\['p_0', 'p_1'\\] but the model's"),
        (["--reference", "g=group", "--features", "group"], "--features names 'group', a --ref"),
        (["--cost=-1,5"], "--cost values are costs and cannot be negative, got '-1,5'"),
        (["--cost", "1,2,3"], "--cost takes 'FP,FN' .* got 3 numbers in '1,2,3'"),
        (["--cost", "a,b"], "--cost takes 'FP,FN' \\(2 numbers\\) or 'TN,FP,FN,TP'"),
        (["--cost", "1,"], "--cost takes 'FP,FN'"),
        (["--cost", "inf,1"], "--cost values must be finite"),
        (["--cost", "0,0"], "--cost is all zeros"),
        (["--sample-weight", "nope"], "sample_weight column 'nope' not found"),
        (["--sample-weight", "group"], "sample_weight must be numeric"),
        (["--images", "group"], "images: 10 of 10 file\\(s\\) do not exist, first 'a' \\(row 0\\)"),
    ],
)
def test_bad_values_are_one_line_and_nothing_is_written(files, tmp_path, capsys, extra, match):
    table, _ = files
    out = tmp_path / "d.json"
    assert _run(table, out, *extra) == 1
    _assert_one_line(capsys, match)
    assert not out.exists()


def test_bad_calibration_files_are_one_line(files, tmp_path, capsys):
    import re

    table, calibration = files
    out = tmp_path / "d.json"
    no_proba = tmp_path / "no_p1.csv"
    no_proba.write_text(CALIBRATION.replace(",p_0,p_1", ",q_0,q_1"))
    no_target = tmp_path / "no_y.csv"
    no_target.write_text(CALIBRATION.replace("id,y,", "id,label,"))
    cases = [
        (no_target, "--calibration .*no_y.csv: target column 'y' not found; the table has"),
        (no_proba, "--calibration .*no_p1.csv: no proba columns match 'p_\\*'"),
        (tmp_path / "absent.csv", "--calibration .*absent.csv: file not found"),
        # the input itself as the calibration split: every row shared, refused before any run
        (table, "--calibration .*test.csv: 10 of the 10 rows .* the calibration was fitted on"),
    ]
    for path, match in cases:
        assert _run(table, out, "--calibration", str(path)) == 1, path
        _assert_one_line(capsys, match)
        assert not out.exists()
    before = calibration.read_bytes()
    assert _run(table, calibration, "--calibration", str(calibration)) == 1  # output = input
    _assert_one_line(capsys, "is the input")
    assert calibration.read_bytes() == before
    assert re.search("--calibration", main_help(capsys))


def test_options_that_need_probabilities_or_two_classes(files, tmp_path, capsys):
    _, calibration = files
    out = tmp_path / "d.json"
    three = tmp_path / "three.csv"
    three.write_text("y,p_a,p_b,p_c\na,0.5,0.3,0.2\nb,0.2,0.6,0.2\nc,0.1,0.1,0.8\n")
    argv = ["diagnose", str(three), "--target", "y", "--proba", "p_*", "--json", str(out)]
    assert main([*argv, "--cost", "1,5"]) == 1
    _assert_one_line(capsys, "--cost chooses the threshold of a binary .*this is a multiclass")
    pred_only = tmp_path / "pred.csv"
    pred_only.write_text("y,pred\n0,0\n1,1\n0,1\n")
    argv = ["diagnose", str(pred_only), "--target", "y", "--pred", "pred", "--json", str(out)]
    assert main([*argv, "--cost", "1,5"]) == 1
    _assert_one_line(capsys, "--cost .* give --proba")
    assert main([*argv, "--calibration", str(calibration)]) == 1
    _assert_one_line(capsys, "--calibration needs --proba")
    assert not out.exists()


def main_help(capsys) -> str:
    capsys.readouterr()
    assert main(["diagnose", "--help"]) == 0
    return capsys.readouterr().out


def test_help_documents_the_syntax(capsys):
    text = " ".join(main_help(capsys).split())
    assert "--reference NAME=COLUMN" in text and "'v1_p_*'" in text
    assert "--cost FP,FN|TN,FP,FN,TP" in text and "'FP,FN' is the cost of a false positive" in text
    assert "--calibration FILE" in text


def _assert_one_line(capsys, match: str) -> None:
    import re

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("toolkit diagnose: error: ") and "Traceback" not in err[0]
    assert re.search(match, err[0]), err[0]


# ---------------------------------------------------------------------- weights and images
def test_sample_weight_column_weighs_every_row_and_is_not_a_feature(files, tmp_path, capsys):
    table, _ = files
    weighted = tmp_path / "weighted.csv"
    lines = TABLE.splitlines()
    # rows 5, 6 and 7 are the model's errors at 0.5; weight 3 on row 5, 1 elsewhere
    weights = [1, 1, 1, 1, 3, 1, 1, 1, 1, 1]
    weighted.write_text(
        "\n".join([lines[0] + ",w"] + [f"{row},{w}" for row, w in zip(lines[1:], weights)]) + "\n"
    )
    out = tmp_path / "d.json"
    assert _run(weighted, out, "--sample-weight", "w", "--cost", "1,5") == 0, capsys.readouterr()
    data = json.loads(out.read_text("utf-8"))
    assert data["meta"]["weighted"] is True
    assert "w" not in data["meta"]["features"]
    # 3 wrong rows weigh 3 + 1 + 1 = 5 of a total weight of 12
    assert data["meta"]["error_rate"] == pytest.approx(5 / 12)
    # FP 1, FN 5 at 0.35: false positives on rows 4 (p 0.4, weight 1) and 5 (weight 3): 4
    assert (data["thresholds"]["threshold"], data["thresholds"]["value"]) == (0.35, 4.0)


def test_image_paths_give_thumbnails_in_the_report(tmp_path, capsys):
    import matplotlib.image as mpimg
    import numpy as np

    rows = ["id,y,p_0,p_1,img"]
    rng = np.random.default_rng(0)
    for i in range(40):
        path = tmp_path / f"img{i}.png"
        mpimg.imsave(path, rng.random((6, 6)), cmap="gray")
        y = i % 2
        p1 = 0.9 if (y == 1) != (i % 7 == 0) else 0.1  # every 7th row is wrong
        rows.append(f"{i},{y},{1 - p1},{p1},{path}")
    table = tmp_path / "images.csv"
    table.write_text("\n".join(rows) + "\n")
    html, out = tmp_path / "r.html", tmp_path / "r.json"
    code = main(
        ["diagnose", str(table), *BASE, "--images", "img", "--sections", "metrics,label_issues"]
        + ["--html", str(html), "--json", str(out)]
    )
    assert code == 0, capsys.readouterr()
    issues = json.loads(out.read_text("utf-8"))["label_issues"]
    flagged = [str(r["id"]) for r in issues if r["is_issue"]]
    assert sorted(map(int, flagged)) == [0, 7, 14, 21, 28, 35]  # the wrong, confident rows
    page = html.read_text("utf-8")
    shown = re.findall(r'<img src="data:image/png;base64,([^"]+)"[^>]*alt="([^"]+)"', page)
    # the worst label issues, in the table's order, each as its own file's image
    assert [alt for _, alt in shown] == flagged[:12]
    thumb = mpimg.imread(io.BytesIO(base64.b64decode(shown[0][0])), format="png")
    assert thumb.shape[:2] == (48, 48)  # 6x6 enlarged 8 times, pixel for pixel
    blocks = thumb[:, :, 0].reshape(6, 8, 6, 8)
    assert np.ptp(blocks, axis=(1, 3)).max() == 0
    source = mpimg.imread(tmp_path / f"img{flagged[0]}.png")[:, :, 0]
    np.testing.assert_allclose(blocks[:, 0, :, 0], source, atol=1 / 255)
    assert str(tmp_path / "img") not in page  # thumbnails are embedded, paths not linked
