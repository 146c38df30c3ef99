"""`diagnose` runs every analysis the inputs allow, wires them together, and says why not.

The fixture is real: scikit-learn's digits, out-of-fold probabilities of Gaussian naive
Bayes (15% error, so there are patterns to find), the pixels as embeddings, four simple
features (one is the predicted class), an unlabeled pool and a two-stage chain (a router
that picks the half of the digits, then the classifier restricted to that half). Every
cross-link is recomputed here with plain masks.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import toolkit as tk
from toolkit.analysis.diagnose import SECTIONS, register_section
from toolkit.analysis.sections import Section, Table
from toolkit.exceptions import InvalidValueError, ToolkitTypeError, ValidationError

CREATED = "2026-01-01T00:00:00+00:00"


def _router(proba, upstream):
    return (np.asarray(proba).argmax(axis=1) >= 5).astype(int)


def _classifier(proba, upstream):
    proba = np.asarray(proba)
    high = upstream["router"].astype(bool)
    low_pick = proba[:, :5].argmax(axis=1)
    high_pick = 5 + proba[:, 5:].argmax(axis=1)
    return np.where(high, high_pick, low_pick)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    X, y = load_digits(return_X_y=True)
    proba = tk.out_of_sample_proba(GaussianNB(), X, y, cv=5)
    features = pd.DataFrame(
        {
            "ink": X.mean(axis=1),
            "left_ink": X[:, ::8].mean(axis=1),
            "stroke": (X > 8).sum(1),
            # slicing by the predicted class is a real error analysis (which outputs
            # to distrust), and gives the pattern search something to find
            "predicted": [f"looks like {k}" for k in proba.argmax(axis=1)],
        }
    )
    p = tk.Predictions(y, proba=proba, features=features, embeddings=X)
    chain = {
        "stages": [tk.Stage("router", _router), tk.Stage("digit", _classifier)],
        "inputs": proba,
        "oracles": {"router": (y >= 5).astype(int)},
        "n_boot": 200,
    }
    pool = proba[:300]
    return {"p": p, "chain": chain, "pool": pool, "y": y, "proba": proba}


@pytest.fixture(scope="module")
def full(digits):
    from sklearn.naive_bayes import GaussianNB

    return tk.diagnose(
        digits["p"],
        chain=digits["chain"],
        pool={"pool": digits["pool"], "budget": 40},
        splits={"reference": digits["p"].features.iloc[::4], "n_splits": 2},
        learning_curve=tk.learning_curve(
            GaussianNB(), digits["p"].embeddings, digits["y"], train_sizes=[100, 400], cv=3
        ),
        proba_source="out_of_sample",
        created=CREATED,
        random_state=0,
    )


@pytest.mark.slow
def test_every_section_runs_when_the_inputs_allow_it(full):
    # digits is multiclass and has no calibration split of its own: these two sections
    # have nothing to run on here (tests/test_evaluation_report.py runs them)
    cannot = {
        "thresholds": "thresholds apply to binary tasks; this is a multiclass task",
        "calibration_fix": "no calibration split",
    }
    assert full.skipped == cannot
    for name in SECTIONS.names:
        assert (getattr(full, name) is None) == (name in cannot), name
    d = full.to_dict()
    # the JSON keys come in the documented order
    assert list(d) == ["meta", "metrics", "baselines", *SECTIONS.names[1:]]
    assert d["meta"]["n"] == 1797 and d["meta"]["created"] == CREATED
    json.loads(full.to_json())  # strict JSON: no NaN, no inf


@pytest.mark.slow
def test_label_issue_share_of_patterns_and_clusters_by_plain_masks(full, digits):
    p = digits["p"]
    issues = full.label_issues.table
    flagged = set(issues.loc[issues["is_issue"], "id"])
    is_issue = np.array([i in flagged for i in p.ids])
    assert is_issue.sum() == issues["is_issue"].sum() > 0

    def share(mask):
        errors = p.errors & mask
        return np.nan if not errors.any() else (errors & is_issue).sum() / errors.sum()

    table = full.clusters.table
    assert "label_issue_share" in table
    for row in table.itertuples():
        expected = share(full.clusters.labels == row.cluster)
        np.testing.assert_allclose(row.label_issue_share, expected, equal_nan=True)
    for row in full.error_patterns.table.itertuples():
        mask = row.conditions.mask(p.features)
        np.testing.assert_allclose(row.label_issue_share, share(mask), equal_nan=True)


@pytest.mark.slow
def test_cluster_pattern_overlap_is_the_row_jaccard(full, digits):
    p = digits["p"]
    overlap = full.overlap
    assert len(full.error_patterns) > 0 and len(overlap) > 0
    patterns = full.error_patterns.table.set_index("pattern")
    for row in overlap.itertuples():
        in_cluster = full.clusters.labels == row.cluster
        # an independent mask: each condition applied by hand from its JSON form
        in_pattern = np.ones(p.n, dtype=bool)
        for condition in patterns.loc[row.pattern, "conditions"].to_dict():
            in_pattern &= _by_hand(p.features, condition)
        both = in_cluster & in_pattern
        assert row.n_both == both.sum()
        assert row.errors_both == (both & p.errors).sum()
        assert row.jaccard == pytest.approx(both.sum() / (in_cluster | in_pattern).sum())
    assert full.to_dict()["clusters"]["pattern_overlap"] is not None


@pytest.mark.slow
def test_chain_and_queue_sections_are_the_functions_results(full, digits):
    direct = tk.analyze_chain(
        digits["chain"]["stages"],
        digits["chain"]["inputs"],
        digits["y"],
        oracles=digits["chain"]["oracles"],
        n_boot=200,
        random_state=0,
    )
    pd.testing.assert_frame_equal(full.chain.table, direct.table)
    assert full.to_dict()["meta"]["chain_summary"] == direct.summary()
    queue = tk.labeling_queue(digits["pool"], budget=40)
    pd.testing.assert_frame_equal(full.labeling_queue.table, queue.table)


@pytest.mark.slow
def test_same_inputs_same_json(full, digits):
    from sklearn.naive_bayes import GaussianNB

    again = tk.diagnose(
        digits["p"],
        chain=digits["chain"],
        pool={"pool": digits["pool"], "budget": 40},
        splits={"reference": digits["p"].features.iloc[::4], "n_splits": 2},
        learning_curve=tk.learning_curve(
            GaussianNB(), digits["p"].embeddings, digits["y"], train_sizes=[100, 400], cv=3
        ),
        proba_source="out_of_sample",
        created=CREATED,
        random_state=0,
    )
    assert again.to_json() == full.to_json()


@pytest.mark.slow
def test_report_shows_every_analysis(full):
    html = full.to_html()
    table = full.clusters.table
    top = table[table["significant"]].iloc[0]
    assert "Clusters and error patterns seen together" in html
    assert "Ceiling table" in html and "Shapley" in html
    chain = full.chain.table
    for row in chain[chain["kind"] == "single"].itertuples():  # the bars' numbers
        assert f"{row.shapley_pp:+.2f} pp" in html
    assert f"{int(full.label_issues.table['is_issue'].sum()):,} rows flagged" in html
    assert "data:image/png;base64," in html  # the error map
    assert f"{int(top['errors']):,} errors in" in html  # the cluster sentence of the summary


def _by_hand(frame, condition):
    """A condition's rows, computed from its JSON form without the Condition class."""
    values = frame[condition["column"]]
    op, value = condition["op"], condition["value"]
    compare = {
        "==": lambda v: values == v,
        "<": lambda v: values < v,
        "<=": lambda v: values <= v,
        ">": lambda v: values > v,
        ">=": lambda v: values >= v,
    }
    if op in compare:
        return compare[op](value).to_numpy()
    if op == "is missing":
        return values.isna().to_numpy()
    assert op in ("in [)", "in (]", "in []", "in ()"), op
    lo, hi = value
    above = values >= lo if op[3] == "[" else values > lo
    below = values <= hi if op[4] == "]" else values < hi
    return (above & below).to_numpy()


def test_sections_that_cannot_run_say_why():
    rng = np.random.default_rng(0)
    y = rng.normal(size=120)
    reg = tk.Predictions(y, y + rng.normal(size=120), features={"g": rng.choice(["a", "b"], 120)})
    d = tk.diagnose(reg, sections=["metrics", "label_issues", "chain", "labeling_queue"])
    assert d.skipped["label_issues"] == (
        "label issues need class probabilities; this is a regression task"
    )
    assert d.skipped["chain"] == "no chain was given"
    assert d.skipped["labeling_queue"] == "no unlabeled pool was given"
    assert d.skipped["clusters"] == "not requested"

    hard = tk.Predictions(["a", "b"] * 30, ["a", "a"] * 30)
    d = tk.diagnose(hard, sections=["clusters", "label_issues"])
    assert d.skipped["clusters"] == "no embeddings or feature columns to cluster on"
    assert d.skipped["label_issues"] == (
        "label issues need class probabilities; only predictions were given"
    )
    small = tk.Predictions(["a", "b"] * 10, ["a", "a"] * 10, features={"x": np.arange(20)})
    assert tk.diagnose(small, sections=["clusters"]).skipped["clusters"] == (
        "only 20 rows; clustering needs at least 50"
    )


def test_bad_pool_mapping_and_sections_are_named():
    p = tk.Predictions([0, 1] * 30, [0, 0] * 30)
    with pytest.raises(ValidationError, match=r"pool mapping needs key 'pool'.*'size'"):
        tk.diagnose(p, sections=["labeling_queue"], pool={"size": 3})
    with pytest.raises(ValidationError, match=r"unknown section\(s\) \['plots'\]"):
        tk.diagnose(p, sections=["plots"])


def test_in_sample_warning_reaches_the_caller():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from toolkit.analysis.labels import InSampleProbabilityWarning

    X, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    p = tk.Predictions.from_model(model, X, y)
    with pytest.warns(InSampleProbabilityWarning):
        d = tk.diagnose(p, sections=["label_issues"], proba_source="in_sample")
    assert d.label_issues is not None


def test_progress_is_told_each_section_that_runs_in_order():
    rng = np.random.default_rng(3)
    p = tk.Predictions(
        rng.integers(0, 2, 200), rng.integers(0, 2, 200), features={"g": ["a"] * 200}
    )
    told = []
    tk.diagnose(p, sections=["metrics", "slices", "chain"], progress=told.append)
    # chain: skipped
    assert told == [SECTIONS["metrics"].message, SECTIONS["slices"].message]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"random_state": -1},
            InvalidValueError,
            r"diagnose: random_state must be an int in \[0, 4294967295\], got -1",
        ),
        ({"random_state": 1.5}, ToolkitTypeError, "got 1.5"),
        ({"random_state": None}, ToolkitTypeError, "got None"),
        (
            {"sections": "metrics"},
            ToolkitTypeError,
            r"sections must be a list of str or None, .* e.g. sections=\['metrics'\]",
        ),
        (
            {"proba_source": "bogus"},
            InvalidValueError,
            "proba_source must be one of 'out_of_sample', 'in_sample' or None, got 'bogus'",
        ),
        ({"meta": {"skipped": "x", "n": 3}}, ValidationError, r"meta key\(s\) \['n', 'skipped'\]"),
        ({"meta": ["a"]}, ToolkitTypeError, r"meta must be a Mapping or None, got \['a'\]"),
    ],
)
def test_bad_options_are_refused_before_any_work(kwargs, error, match):
    p = tk.Predictions([0, 1] * 30, [0, 0] * 30)
    with pytest.raises(error, match=match):
        tk.diagnose(p, **kwargs)


def test_print_shows_what_ran_what_was_skipped_and_the_summary(full):
    from toolkit.report.summary import summary_sentences

    hard = tk.Predictions(["a", "b"] * 30, ["a", "a"] * 30)
    d = tk.diagnose(hard, sections=["metrics", "label_issues"])
    lines = str(d).splitlines()
    assert lines[0] == "Diagnosis of 60 rows (binary): ran metrics"
    assert lines[1] == (
        "  skipped label_issues: label issues need class probabilities; only predictions were given"
    )
    assert lines[2:] == [f"- {s}" for s in summary_sentences(d)] and len(lines) > 2
    assert "not requested" not in str(d)  # sections left out on purpose are not noise
    text = str(full)
    assert len(text) < 3000 and text.count("\n") < 20
    assert all(f"- {s}" in text for s in summary_sentences(full))


def test_notebook_view_is_the_report_in_a_sandboxed_frame():
    p = tk.Predictions(["<b>x</b>", "y"] * 30, ["y", "y"] * 30)
    d = tk.diagnose(p, sections=["metrics"])
    view = d._repr_html_()
    assert view.startswith('<iframe sandbox="allow-scripts"') and "<b>x</b>" not in view
    # the page inside is the report, escaped once for the attribute
    import html as html_lib

    srcdoc = view.split('srcdoc="', 1)[1].rsplit('"></iframe>', 1)[0]
    assert html_lib.unescape(srcdoc) == d.to_html()


class _LongRows:
    """A made-up analysis result: the errors among the rows with the largest x."""

    def __init__(self, table):
        self.table = table


def test_a_new_section_is_one_definition_and_one_registration():
    # nothing in diagnose, the JSON writer or the report knows this section's name
    def run(ctx):
        x = ctx.p.features["x"].to_numpy()
        top = x >= np.quantile(x, 0.75)
        errors = int((ctx.p.errors & top).sum())
        return _LongRows(pd.DataFrame({"group": ["top quarter of x"], "errors": [errors]}))

    section = Section(
        name="top_x",
        title="Errors among the largest x",
        run=run,
        applies=lambda ctx: None if "x" in ctx.p.feature_names else "no column x",
        tables=(
            Table(
                "t-top-x",
                lambda r, _: r.table,
                [("group", "group", "text"), ("errors", "errors", "num")],
            ),
        ),
    )
    register_section(section, after="metrics")
    try:
        x = np.arange(40, dtype=float)
        y = np.zeros(40, dtype=int)
        pred = (x >= 30).astype(int)  # wrong exactly on the top quarter: 10 errors
        d = tk.diagnose(tk.Predictions(y, pred, features={"x": x}), sections=["top_x"])
        assert d.top_x.table["errors"].tolist() == [10]
        out = d.to_dict()
        assert list(out)[:4] == ["meta", "metrics", "baselines", "top_x"]
        assert out["top_x"] == [{"group": "top quarter of x", "errors": 10}]
        html = d.to_html()
        assert '<section id="top-x">' in html and 'href="#top-x"' in html
        assert '<table id="t-top-x"' in html and ">top quarter of x</td>" in html
        skipped = tk.diagnose(tk.Predictions(y, pred), sections=["top_x"])
        assert skipped.top_x is None and skipped.skipped["top_x"] == "no column x"
        assert skipped.to_dict()["top_x"] is None
    finally:
        SECTIONS.unregister("top_x")
    assert "top_x" not in tk.diagnose(tk.Predictions(y, pred), sections=["metrics"]).to_dict()


@pytest.mark.parametrize(
    ("section", "match"),
    [
        (Section("meta", "x", run=lambda ctx: None), r"may not use the name 'meta'"),
        (Section("skipped", "x", run=lambda ctx: None), r"may not use the name 'skipped'"),
        (Section("slices", "x", run=lambda ctx: None), r"'slices', which section 'slices'"),
        (
            Section("mine", "x", run=lambda ctx: None, json_keys=("baselines",)),
            r"uses the name 'baselines', which section 'metrics' already uses",
        ),
        (
            Section("mine", "x", run=lambda ctx: None, provides=("overlap",)),
            r"'overlap', which section 'clusters' already uses",
        ),
    ],
)
def test_a_section_cannot_take_a_name_the_diagnosis_already_uses(section, match):
    before = SECTIONS.names
    with pytest.raises(ValidationError, match=match):
        register_section(section)
    assert SECTIONS.names == before


def test_unregistering_an_unknown_section_is_named():
    with pytest.raises(ValidationError, match=r"no section 'nope'; sections are \['metrics'"):
        SECTIONS.unregister("nope")
