"""The tracking commands of the ``toolkit`` CLI: ``runs``, ``compare``, ``sync``.

Importing this module imports neither mlflow nor pandas; each command imports what it
needs when it runs, so ``toolkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from toolkit._terminal import printable
from toolkit.exceptions import ValidationError

__all__ = ["cmd_compare", "cmd_runs", "cmd_sync", "register", "summary_lines"]

EXIT_OK, EXIT_FAILURE = 0, 1
#: Default of ``compare --min-slice-rows``.
MIN_GATE_ROWS = 30
#: Default of ``compare --alpha``: the false discovery rate across slices.
ALPHA = 0.05
#: Default of ``compare --top``: the slices that changed most, shown.
TOP_SLICES = 5


def _uri_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        default=None,
        help="MLflow store or server (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )


def register(subparsers: Any) -> None:
    """Add ``runs``, ``compare`` and ``sync`` to the CLI's argparse subparsers."""
    _add_runs(subparsers)
    _add_compare(subparsers)
    _add_sync(subparsers)


def _add_runs(subparsers: Any) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="list recorded runs: status, duration, key metrics",
        description="List the latest runs of an experiment (or of all experiments).",
        epilog="example: toolkit runs --experiment adult --mark-stale",
    )
    runs.add_argument("--experiment", metavar="NAME", default=None)
    runs.add_argument(
        "--mark-stale",
        action="store_true",
        help="first mark RUNNING runs whose process died (no heartbeat) as FAILED",
    )
    runs.add_argument("--max-results", type=int, default=50, metavar="N")
    _uri_option(runs)
    runs.set_defaults(func=cmd_runs)


def _add_compare(subparsers: Any) -> None:
    compare = subparsers.add_parser(
        "compare",
        help="compare two runs: which is better, the slices that changed, a CI gate",
        description="Show what changed from RUN_A to RUN_B: first which run is better on the "
        "rows both predicted (error rates, a paired 95% interval, an exact McNemar test), "
        "then the slices that changed most, the params that differ and the metrics. With "
        "--max-regression, exit 1 when a slice is significantly worse in RUN_B (McNemar, "
        "Benjamini-Hochberg across slices) by more than PP points. Needs predictions logged "
        "in both runs (run.log_predictions) for everything but params and metrics.",
        epilog="example: toolkit compare 49bfaa8c 3e0c7ad5 --max-regression 2",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="run id or a unique prefix of one")
    compare.add_argument("run_b", metavar="RUN_B", help="run id or a unique prefix of one")
    compare.add_argument(
        "--max-regression",
        type=float,
        default=None,
        metavar="PP",
        help="fail when a slice is significantly worse in RUN_B by more than PP points",
    )
    compare.add_argument(
        "--slices", default=None, metavar="COLS", help="comma-separated slice columns"
    )
    compare.add_argument(
        "--min-slice-rows",
        type=int,
        default=MIN_GATE_ROWS,
        metavar="N",
        help=f"slices with fewer than N rows predicted by both runs are too small to judge "
        f"(default {MIN_GATE_ROWS}): a slice of 7 rows moves 14 points when one row changes",
    )
    compare.add_argument(
        "--alpha",
        type=float,
        default=ALPHA,
        metavar="Q",
        help=f"false discovery rate across slices (default {ALPHA:g})",
    )
    compare.add_argument(
        "--top",
        type=int,
        default=TOP_SLICES,
        metavar="N",
        help=f"slices shown: the N that changed most (default {TOP_SLICES})",
    )
    compare.add_argument(
        "--all-params", action="store_true", help="also list params that did not change"
    )
    _uri_option(compare)
    compare.set_defaults(func=cmd_compare)


def _add_sync(subparsers: Any) -> None:
    sync = subparsers.add_parser(
        "sync",
        help="send runs spooled while the tracking server was unreachable",
        description="Replay runs from the local spool ($TOOLKIT_SPOOL_DIR, default "
        "~/.cache/toolkit/spool) to their tracking server. Safe to run again.",
    )
    sync.add_argument(
        "--target", metavar="URI", default=None, help="only runs meant for this server"
    )
    sync.set_defaults(func=cmd_sync)


def cmd_runs(args: argparse.Namespace) -> int:
    """``toolkit runs``: print the runs table."""
    from toolkit.tracking.compare import list_runs, mark_stale_runs

    if args.max_results < 1:
        raise ValidationError(f"--max-results must be >= 1, got {args.max_results}")
    if args.mark_stale:
        marked = mark_stale_runs(args.experiment, tracking_uri=args.tracking_uri)
        print(
            f"marked {len(marked)} stale run(s) FAILED"
            + (f": {', '.join(marked)}" if marked else "")
        )
    table = list_runs(args.experiment, tracking_uri=args.tracking_uri, max_results=args.max_results)
    if table.empty:
        print("no runs")
        return EXIT_OK
    # stored names can hold anything: escape sequences must not reach the terminal
    from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

    shown = table.rename(columns=printable)
    for column in shown.columns:
        values = shown[column]
        if not (is_numeric_dtype(values) or is_datetime64_any_dtype(values)):
            shown[column] = values.map(lambda v: v if v is None else printable(v))
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``toolkit compare``: the summary, slices, params and metrics; the gate's verdict."""
    from toolkit.tracking.compare import compare_runs

    if args.max_regression is not None and args.max_regression < 0:
        raise ValidationError(f"--max-regression must be >= 0, got {args.max_regression}")
    if args.min_slice_rows < 1:
        raise ValidationError(f"--min-slice-rows must be >= 1, got {args.min_slice_rows}")
    if not 0 < args.alpha < 1:
        raise ValidationError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.top < 0:
        raise ValidationError(f"--top must be >= 0, got {args.top}")
    slices = None if args.slices is None else [s.strip() for s in args.slices.split(",") if s]
    comparison = compare_runs(
        args.run_a,
        args.run_b,
        tracking_uri=args.tracking_uri,
        slices=slices,
        all_params=args.all_params,
        min_slice_rows=args.min_slice_rows,
        alpha=args.alpha,
    )
    lines = summary_lines(comparison)
    lines += _slice_lines(comparison, args.top)
    lines += _param_lines(comparison, args.all_params)
    lines += _metric_lines(comparison)
    print(_lines(lines))
    if args.max_regression is None:
        return EXIT_OK
    return _gate(comparison, args.max_regression)


def _lines(lines: list[str]) -> str:
    """Lines for the terminal; what they show of stored names and values is escaped."""
    return "\n".join(printable(line) for line in lines)


def _label(comparison: Any, which: str) -> str:
    run_id = getattr(comparison, f"run_{which}")
    name = getattr(comparison, f"run_name_{which}")
    return f"{which.upper()} {run_id[:8]}" + (f" ({name})" if name else "")


def _p_text(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def summary_lines(comparison: Any) -> list[str]:
    """The first lines of ``toolkit compare``: which run is better, by how much, how sure."""
    a, b = _label(comparison, "a"), _label(comparison, "b")
    o = comparison.overall
    if o is None:
        return [
            f"No paired comparison of {a} and {b}: they have no predictions of the same rows "
            "(run.log_predictions in both, rows matched by id and true label); params and "
            "metrics only.",
            "",
        ]
    if o["significant"]:
        head = f"{b if o['delta'] < 0 else a} is better than {a if o['delta'] < 0 else b}"
    else:
        head = f"No clear difference between {a} and {b}"
    ci = f"95% CI {o['ci_low']:+.2f} to {o['ci_high']:+.2f}"
    lines = [
        f"{head}: error rate {o['a']:.2%} -> {o['b']:.2%}, {o['delta']:+.2f} pp ({ci}) on the "
        f"{o['n_paired']:,} rows both runs predicted.",
        f"B fixed {o['fixed']:,} rows A got wrong and broke {o['broken']:,} that A got right "
        f"(exact McNemar {_p_text(o['p_value'])}).",
    ]
    if o["n_paired"] < max(o["n_a"], o["n_b"]):
        lines.append(
            f"Not compared: {o['n_a'] - o['n_paired']:,} of A's {o['n_a']:,} rows and "
            f"{o['n_b'] - o['n_paired']:,} of B's {o['n_b']:,} have no row with the same id "
            "and true label in the other run."
        )
    return [*lines, ""]


def _slice_lines(comparison: Any, top: int) -> list[str]:
    slices = comparison.rows("slice")
    if slices.empty or top == 0:
        return []
    judged = slices[slices["n_paired"].astype(float) >= comparison.min_slice_rows]
    small = comparison.n_too_small
    note = f"; {small} with fewer rows not judged" if small else ""
    if judged.empty:
        return [f"No slice has {comparison.min_slice_rows}+ rows both runs predicted{note}.", ""]
    order = judged["delta"].astype(float).abs().sort_values(ascending=False).index
    shown = judged.loc[order[:top]]
    width = max(len(str(name)) for name in shown["name"])
    lines = [
        f"Slices that changed most ({len(shown)} of {len(judged)} with "
        f"{comparison.min_slice_rows}+ paired rows{note}; * = significant, BH q < "
        f"{comparison.alpha:g}):"
    ]
    for row in shown.itertuples():
        mark = "*" if row.significant else " "
        lines.append(
            f"  {row.name:<{width}}  {row.n_paired:>7,} rows  {row.a:7.2%} -> {row.b:7.2%}  "
            f"{row.delta:+6.2f} pp [{row.ci_low:+6.2f}, {row.ci_high:+6.2f}]  "
            f"q {row.q_value:.2g} {mark}"
        )
    return [*lines, ""]


def _param_lines(comparison: Any, all_params: bool) -> list[str]:
    params = comparison.rows("param")
    if params.empty:
        return ["Params: none differ." if not all_params else "Params: none.", ""]
    changed = params[params["a"].notna() & params["b"].notna() & (params["a"] != params["b"])]
    only_a = int((params["a"].notna() & params["b"].isna()).sum())
    only_b = int((params["a"].isna() & params["b"].notna()).sum())
    shown = params if all_params else changed
    counts = [f"{len(changed)} changed"]
    counts += [f"{only_a} only in A"] if only_a else []
    counts += [f"{only_b} only in B"] if only_b else []
    hint = "" if all_params or len(shown) == len(params) else " (all with --all-params)"
    lines = [f"Params: {', '.join(counts)}{hint}"]
    width = max((len(str(n)) for n in shown["name"]), default=0)
    for row in shown.itertuples():
        a = "(absent)" if row.a is None else row.a
        b = "(absent)" if row.b is None else row.b
        lines.append(f"  {row.name:<{width}}  {a} -> {b}")
    return [*lines, ""]


def _metric_lines(comparison: Any) -> list[str]:
    metrics = comparison.rows("metric")
    if metrics.empty:
        return []
    width = max(len(str(n)) for n in metrics["name"])
    lines = ["Metrics (A -> B):"]
    for row in metrics.itertuples():
        a = "(absent)" if row.a is None else f"{row.a:.4g}"
        b = "(absent)" if row.b is None else f"{row.b:.4g}"
        delta = "" if row.delta is None else f"  ({row.delta:+.4g})"
        lines.append(f"  {row.name:<{width}}  {a} -> {b}{delta}")
    return lines


def _gate(comparison: Any, max_regression: float) -> int:
    """Exit 1 only when a judged slice is significantly worse by more than the limit."""
    slices = comparison.rows("slice")
    if comparison.overall is None:
        raise ValidationError(
            "--max-regression needs predictions logged in both runs (run.log_predictions), "
            "of the same rows (matched by id and true label)"
        )
    if slices.empty:
        raise ValidationError(
            "--max-regression needs slices: the predictions of both runs have no common "
            "feature column (pass features= to Predictions, or --slices)"
        )
    small = comparison.n_too_small
    judged = len(slices) - small
    scope = (
        f"{judged} slice(s) judged, {small} too small to judge "
        f"(< {comparison.min_slice_rows} rows both runs predicted)"
    )
    worse = comparison.regressions(max_regression)
    rule = f"significantly worse (BH q < {comparison.alpha:g}) by more than {max_regression:g} pp"
    if worse.empty:
        print(f"\nGate passed: no slice is {rule}; {scope}.")
        return EXIT_OK
    lines = [f"Gate failed: {len(worse)} slice(s) {rule}; {scope}:"]
    for row in worse.itertuples():
        lines.append(
            f"  {row.name}: {row.a:.2%} -> {row.b:.2%}, {row.delta:+.2f} pp "
            f"(95% CI {row.ci_low:+.2f} to {row.ci_high:+.2f}; {row.n_paired:,} rows, "
            f"{row.broken:,} broken, {row.fixed:,} fixed; q = {row.q_value:.2g})"
        )
    print(_lines(lines), file=sys.stderr)
    return EXIT_FAILURE


def cmd_sync(args: argparse.Namespace) -> int:
    """``toolkit sync``: replay spooled runs; exit 1 when any failed or could not be sent."""
    from toolkit.tracking.spool import spool_dir, sync

    results = sync(target_uri=args.target)
    if not results:
        print(f"nothing to sync in {spool_dir()}")
        return EXIT_OK
    for r in results:
        where = f"-> {r.remote_run_id}" if r.remote_run_id else f"({r.detail})"
        print(printable(f"{r.outcome:<8} {r.spool_run_id} {r.target_uri} {where}"))
    counts = {o: sum(r.outcome == o for r in results) for o in ("synced", "skipped", "failed")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()))
    return EXIT_FAILURE if counts["failed"] or counts["skipped"] else EXIT_OK
