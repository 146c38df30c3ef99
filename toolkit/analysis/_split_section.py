"""The diagnosis section of :func:`~toolkit.analysis.splits.check_splits`: training (or
production) rows beside the evaluated ones. Registered in
:mod:`toolkit.analysis.section_defs`; runs when ``diagnose(p, splits=...)`` is given."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from toolkit._json import frame_records
from toolkit.analysis.sections import Context, Section, Table
from toolkit.exceptions import ValidationError

__all__ = ["SPLITS", "SPLITS_KEYS", "check_splits_option"]

#: Keys a ``splits`` mapping may hold: the reference rows and check_splits's options.
SPLITS_KEYS = (
    "reference",
    "group",
    "time",
    "id",
    "near_distance",
    "max_gap_pp",
    "n_splits",
    "max_rows",
    "n_periods",
    "n_jobs",
)


def check_splits_option(splits: Any) -> None:
    """Refuse a ``splits`` mapping with unknown keys (before any section runs)."""
    if isinstance(splits, Mapping):
        extra = sorted(set(splits) - set(SPLITS_KEYS))
        if "reference" not in splits or extra:
            raise ValidationError(
                f"splits mapping needs key 'reference' and takes only {sorted(SPLITS_KEYS)}; "
                f"got keys {sorted(splits)}"
            )


def _options(ctx: Context) -> tuple[Any, dict[str, Any]]:
    splits = ctx.option("splits")
    if isinstance(splits, Mapping):
        return splits["reference"], {k: v for k, v in splits.items() if k != "reference"}
    return splits, {}


def _run(ctx: Context) -> Any:
    from toolkit.analysis.splits import check_splits

    reference, options = _options(ctx)
    return check_splits(ctx.p, reference, random_state=ctx.random_state, **options)


def _reference_features(reference: Any) -> pd.DataFrame | None:
    from toolkit.data import Predictions

    if isinstance(reference, Predictions):
        return reference.features
    return reference.rename(columns=str).reset_index(drop=True)


def _groups(results: Mapping[str, Any]) -> pd.DataFrame:
    """The error patterns and the clusters that have a rule over the columns, as rows of
    (``kind``, ``pattern``, ``conditions``)."""
    from toolkit.analysis.conditions import Pattern

    parts = []
    patterns, clusters = results.get("error_patterns"), results.get("clusters")
    if patterns is not None and len(patterns.table):
        frame = patterns.table.loc[:, ["pattern", "conditions"]].copy()
        parts.append(frame.assign(kind="error pattern"))
    if clusters is not None and "conditions" in clusters.table:
        table = clusters.table
        ruled = table["conditions"].map(lambda c: isinstance(c, Pattern) and len(c) > 0)
        table = table[ruled.astype(bool)]
        if len(table):
            labels = [
                f"cluster {c}: {p.label}"
                for c, p in zip(table["cluster"], table["conditions"], strict=True)
            ]
            parts.append(
                pd.DataFrame(
                    {
                        "pattern": labels,
                        "conditions": list(table["conditions"]),
                        "kind": "cluster rule",
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["kind", "pattern", "conditions"])
    return pd.concat(parts, ignore_index=True).loc[:, ["kind", "pattern", "conditions"]]


def _link(results: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Each error pattern's and each cluster rule's share of the evaluated and of the
    reference rows."""
    check = results.get("splits")
    groups = _groups(results)
    if check is None or not len(groups):
        return {}
    from toolkit.analysis.splits import pattern_shares

    reference, _ = _options(ctx)
    shares = pattern_shares(groups, ctx.p.features, _reference_features(reference))
    shares.insert(0, "kind", groups["kind"].to_numpy())
    return {"split_pattern_shares": shares}


def _json(check: Any, results: Mapping[str, Any]) -> dict[str, Any]:
    shares = results.get("split_pattern_shares")
    return {
        "splits": {
            **check.to_dict(),
            "pattern_shares": None if shares is None else frame_records(shares),
        }
    }


def _part(name: str) -> Any:
    def frame(check: Any, results: Mapping[str, Any]) -> pd.DataFrame | None:
        if name == "fit":
            return None if check.fit is None else check.fit["table"]
        if name == "time":
            return None if check.time is None else check.time["table"]
        if name == "features":
            return check.shift["importances"]
        return getattr(check, name)

    frame.__name__ = f"splits_{name}"
    return frame


SPLITS = Section(
    name="splits",
    title="Before blaming the model: training against test",
    message="split checks (duplicates, adversarial validation, fit)",
    applies=lambda ctx: (
        None
        if ctx.option("splits") is not None
        else "no reference rows (training or production) were given"
    ),
    run=_run,
    to_json=_json,
    link=_link,
    provides=("split_pattern_shares",),
    nav=(("splits", "Splits"),),
    tables=(
        Table(
            "t-splits",
            lambda check, _: check.table,
            [
                ("check", "check", "text"),
                ("status", "status", "text"),
                ("detail", "finding", "text"),
            ],
            filterable=False,
        ),
        Table(
            "t-splits-fit",
            _part("fit"),
            [
                ("split", "split", "text"),
                ("n", "n", "num"),
                ("errors", "errors", "num"),
                ("error_rate", "error rate", "pct"),
                ("ci_low", "95% CI low", "pct"),
                ("ci_high", "95% CI high", "pct"),
                ("zero_rule_error_rate", "zero-rule error rate", "pct"),
                ("accuracy", "accuracy", "num"),
                ("balanced_accuracy", "balanced accuracy", "num"),
                ("roc_auc", "ROC AUC", "num"),
                ("log_loss", "log loss", "num"),
                ("mae", "MAE", "num"),
                ("rmse", "RMSE", "num"),
            ],
            heading="Training against held-out error",
            filterable=False,
        ),
        Table(
            "t-splits-features",
            _part("features"),
            [
                ("feature", "feature", "text"),
                ("importance", "AUC lost when shuffled", "num"),
                ("importance_std", "std", "num"),
            ],
            heading="Features that tell the two sides apart",
            note="Permutation importance of the adversarial classifier on held-out folds: "
            "the ROC AUC it loses when the feature is shuffled.",
        ),
        Table(
            "t-splits-patterns",
            lambda _, results: results.get("split_pattern_shares"),
            [
                ("kind", "kind", "text"),
                ("pattern", "error pattern or cluster rule", "text"),
                ("share_test", "share of test rows", "pct"),
                ("share_train", "share of training rows", "pct"),
                ("ratio", "test / training", "num"),
            ],
            heading="Error patterns and clusters on each side",
            note="A pattern frequent in the test rows but rare in training is one the "
            "model saw little of. Clusters are placed by their rule over the columns (its "
            "precision and recall are in the clusters table).",
        ),
        Table(
            "t-splits-exact",
            _part("exact"),
            [("train_id", "training id", "text"), ("test_id", "test id", "text")],
            heading="Exact duplicates across the split",
        ),
        Table(
            "t-splits-near",
            _part("near"),
            [
                ("train_id", "training id", "text"),
                ("test_id", "test id", "text"),
                ("distance", "distance", "num"),
            ],
            heading="Near-duplicates across the split",
        ),
        Table(
            "t-splits-groups",
            _part("groups"),
            [
                ("group", "group", "text"),
                ("n_train", "training rows", "num"),
                ("n_test", "test rows", "num"),
                ("train_ids", "training ids", "text"),
                ("test_ids", "test ids", "text"),
            ],
            heading="Groups on both sides",
        ),
        Table(
            "t-splits-time",
            _part("time"),
            [
                ("period", "period", "text"),
                ("n", "n", "num"),
                ("errors", "errors", "num"),
                ("error_rate", "error rate", "pct"),
                ("ci_low", "95% CI low", "pct"),
                ("ci_high", "95% CI high", "pct"),
            ],
            heading="Error rate by period",
            filterable=False,
        ),
    ),
)
