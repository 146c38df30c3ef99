"""The oracle table of ``analyze_chain``: gains with paired-bootstrap intervals, the
ceiling table, exact Shapley values, the error trace and the summary fields."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from toolkit._json import to_python
from toolkit.analysis._chain_metrics import Metric, bootstrap, percentile_interval
from toolkit.analysis._chain_run import ChainSetup, rows_with, trace

__all__ = ["CHAIN_COLUMNS", "MAX_SHAPLEY_STAGES", "oracle_table"]

#: Columns of ``analyze_chain``'s table, in order.
CHAIN_COLUMNS = [
    "stage",
    "kind",
    "replaced",
    "n",
    "stage_score",
    "system_score",
    "system_score_with_oracle",
    "gain_pp",
    "ci_low",
    "ci_high",
    "step_gain_pp",
    "shapley_pp",
    "shapley_share",
    "errors_started",
    "share_of_errors_started",
]
#: Exact Shapley values need the system scored with every subset of oracle stages
#: (2 ** m runs); above this many oracle stages the Shapley columns are left empty.
MAX_SHAPLEY_STAGES = 8

_Ref = tuple[bytes, int]  # (row set, index of a replacement set within it)


@dataclass(frozen=True)
class _Analysis:
    """A checked chain with its system metric and the metric of each oracle stage."""

    setup: ChainSetup
    metric: Metric
    per_stage: dict[int, Metric]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.setup.stages]

    @property
    def last(self) -> int:
        return len(self.setup.stages) - 1

    @property
    def order(self) -> list[int]:
        return self.setup.oracle_stages

    @property
    def sign(self) -> float:
        return 1.0 if self.metric.greater_is_better else -1.0

    def system_pred(self, replaced: frozenset[int]) -> np.ndarray:
        return self.setup.chain.outputs(replaced)[self.last]


class _Groups:
    """The replacement sets to score on each set of rows.

    Each table row compares the system under a few replacement sets on one set of
    rows; rows that share a row set share bootstrap draws (paired resampling).
    """

    def __init__(self) -> None:
        self.groups: dict[bytes, dict[str, Any]] = {}

    def request(self, mask: np.ndarray, replaced: frozenset[int]) -> _Ref:
        key = mask.tobytes()
        group = self.groups.setdefault(key, {"mask": mask, "sets": []})
        if replaced not in group["sets"]:
            group["sets"].append(replaced)
        return key, group["sets"].index(replaced)

    def score(self, a: _Analysis, n_boot: int, rng: np.random.Generator) -> None:
        """Point scores and bootstrap scores of every requested set, group by group."""
        for group in self.groups.values():
            mask = group["mask"]
            y_rows = a.setup.y[mask]
            preds = [a.system_pred(s)[mask] for s in group["sets"]]
            group["point"] = np.array([a.metric.score(y_rows, p) for p in preds])
            group["boot"] = bootstrap(a.metric, y_rows, preds, n_boot, rng)


def _stage_scores(a: _Analysis) -> dict[int, float]:
    """Each oracle stage against its oracle, every earlier oracle stage replaced."""
    scores: dict[int, float] = {}
    for pos, j in enumerate(a.order):
        mask = rows_with(a.setup, a.order[: pos + 1])
        upstream = a.setup.chain.outputs(frozenset(a.order[:pos]))
        oracle = a.setup.oracles[j]
        scores[j] = a.per_stage[j].score(oracle.values[mask], upstream[j][mask])
    return scores


def _plan_rows(
    a: _Analysis, stage_scores: dict[int, float], groups: _Groups
) -> tuple[list[dict[str, Any]], list[tuple[_Ref, _Ref, _Ref | None]]]:
    """The single then cumulative rows, and the replacement sets each one compares."""
    rows: list[dict[str, Any]] = []
    plan: list[tuple[_Ref, _Ref, _Ref | None]] = []
    order = a.order
    for kind in ("single", "cumulative"):
        for pos, j in enumerate(order):
            members = [j] if kind == "single" else order[: pos + 1]
            mask = rows_with(a.setup, members)
            base = groups.request(mask, frozenset())
            target = groups.request(mask, frozenset(members))
            previous = (
                groups.request(mask, frozenset(order[:pos])) if kind == "cumulative" else None
            )
            plan.append((base, target, previous))
            rows.append(
                {
                    "stage": a.names[j],
                    "kind": kind,
                    "replaced": " + ".join(a.names[i] for i in members),
                    "n": int(mask.sum()),
                    "stage_score": stage_scores[j],
                }
            )
    return rows, plan


def _fill_gains(
    rows: list[dict[str, Any]],
    plan: list[tuple[_Ref, _Ref, _Ref | None]],
    groups: _Groups,
    sign: float,
) -> None:
    for row, (base, target, previous) in zip(rows, plan):
        point = groups.groups[base[0]]["point"]
        boot = groups.groups[base[0]]["boot"]
        row["system_score"] = float(point[base[1]])
        row["system_score_with_oracle"] = float(point[target[1]])
        row["gain_pp"] = 100.0 * sign * float(point[target[1]] - point[base[1]])
        gains = 100.0 * sign * (boot[:, target[1]] - boot[:, base[1]])
        row["ci_low"], row["ci_high"] = percentile_interval(gains)
        row["step_gain_pp"] = (
            np.nan
            if previous is None
            else 100.0 * sign * float(point[target[1]] - point[previous[1]])
        )


def _shapley_weights(m: int) -> tuple[list[frozenset[int]], np.ndarray]:
    """All subsets of range(m) and the matrix W with phi = v @ W (v: one score per subset)."""
    subsets = [frozenset(c) for size in range(m + 1) for c in combinations(range(m), size)]
    position = {s: i for i, s in enumerate(subsets)}
    weights = np.zeros((len(subsets), m))
    for s in subsets:
        if len(s) == m:
            continue
        w = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
        for i in range(m):
            if i not in s:
                weights[position[s | {i}], i] += w
                weights[position[s], i] -= w
    return subsets, weights


def _shapley(a: _Analysis, complete: np.ndarray, notes: dict[str, str]) -> np.ndarray:
    """Exact Shapley value of each oracle stage, on the rows with every oracle."""
    m = len(a.order)
    shapley = np.full(m, np.nan)
    if m > MAX_SHAPLEY_STAGES:
        notes["shapley"] = (
            f"{m} oracle stages: exact Shapley values need 2**{m} runs of the chain; "
            f"left empty above {MAX_SHAPLEY_STAGES}"
        )
    elif not complete.any():
        notes["shapley"] = "no row has every oracle, so Shapley values are left empty"
    else:
        y = a.setup.y
        subsets, weights = _shapley_weights(m)
        values = np.array(
            [
                a.metric.score(
                    y[complete], a.system_pred(frozenset(a.order[i] for i in s))[complete]
                )
                for s in subsets
            ]
        )
        shapley = 100.0 * a.sign * (values @ weights)
    return shapley


def _fill_shares(
    a: _Analysis, rows: list[dict[str, Any]], shapley: np.ndarray, n_complete: int
) -> int:
    """Shapley values and the error trace on the single rows; returns the errors traced."""
    total = np.nansum(shapley) if np.isfinite(shapley).all() else np.nan
    started, _, n_errors = trace(a.setup) if n_complete else (None, 0, 0)
    for pos, row in enumerate(rows[: len(a.order)]):
        row["shapley_pp"] = float(shapley[pos])
        row["shapley_share"] = float(shapley[pos] / total) if total else np.nan
        if started is not None:
            row["errors_started"] = int(started["errors_started"].iloc[pos])
            row["share_of_errors_started"] = float(started["share_of_errors_started"].iloc[pos])
    return n_errors


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).reindex(columns=CHAIN_COLUMNS)
    table["errors_started"] = table["errors_started"].astype("Int64")
    float_cols = [c for c in CHAIN_COLUMNS if c not in ("stage", "kind", "replaced", "n")]
    float_cols.remove("errors_started")
    table[float_cols] = table[float_cols].astype(float)
    return table


def _summary(a: _Analysis, stage_scores: dict[int, float], notes: dict[str, str]) -> dict[str, Any]:
    """The system score and the independence estimate; adds their notes."""
    measured = a.metric.score(a.setup.y, a.system_pred(frozenset()))
    independent = None
    if all(a.per_stage[j].name == "accuracy" for j in a.order):
        independent = float(np.prod([stage_scores[j] for j in a.order]))
    else:
        notes["independence_estimate"] = (
            "the product of stage scores is the independence estimate of accuracy only; "
            "some stage or the system is scored with another metric"
        )
    if any(not a.setup.oracles[j].full for j in a.order):
        notes["partial_oracles"] = (
            "some oracles are partial: each row is scored on the rows where its replaced "
            "stages have an oracle value (column n), Shapley values and the error trace "
            "on rows where every oracle is known"
        )
    return {
        "system_score": measured,
        "independence_estimate": independent,
        "independence_gap_pp": None if independent is None else 100.0 * (measured - independent),
    }


def oracle_table(
    setup: ChainSetup,
    metric: Metric,
    per_stage: dict[int, Metric],
    n_boot: int,
    random_state: int | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table of ``analyze_chain`` and its metadata fields (in the result's order)."""
    a = _Analysis(setup, metric, per_stage)
    stage_scores = _stage_scores(a)
    groups = _Groups()
    rows, plan = _plan_rows(a, stage_scores, groups)
    groups.score(a, n_boot, np.random.default_rng(random_state))
    _fill_gains(rows, plan, groups, a.sign)

    notes: dict[str, str] = {}
    complete = rows_with(setup, a.order)
    n_complete = int(complete.sum())
    shapley = _shapley(a, complete, notes)
    n_errors = _fill_shares(a, rows, shapley, n_complete)
    table = _frame(rows)
    scores = _summary(a, stage_scores, notes)
    meta = {
        "metric": metric.name,
        "greater_is_better": metric.greater_is_better,
        "n": setup.n,
        **scores,
        "n_complete": n_complete,
        "n_errors_traced": n_errors,
        "n_boot": int(n_boot),
        "random_state": to_python(random_state),
        "stages_without_oracle": tuple(name for j, name in enumerate(a.names) if j not in a.order),
        "stage_calls": setup.chain.calls,
        "notes": notes,
    }
    return table, meta
