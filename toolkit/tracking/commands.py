"""The tracking commands of the ``toolkit`` CLI: ``runs``, ``compare``, ``sync``.

Importing this module imports neither mlflow nor pandas; each command imports what it
needs when it runs, so ``toolkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from toolkit.exceptions import ValidationError

__all__ = ["cmd_compare", "cmd_runs", "cmd_sync", "register"]

EXIT_OK, EXIT_FAILURE = 0, 1
#: Default of ``compare --min-slice-rows``.
MIN_GATE_ROWS = 30


def _uri_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        default=None,
        help="MLflow store or server (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )


def register(subparsers: Any) -> None:
    """Add ``runs``, ``compare`` and ``sync`` to the CLI's argparse subparsers."""
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

    compare = subparsers.add_parser(
        "compare",
        help="compare two runs: params, metrics, slice error rates",
        description="Show what changed from RUN_A to RUN_B. With --max-regression, exit 1 "
        "when a slice's error rate in RUN_B is more than PP percentage points above RUN_A's "
        "(a CI gate; needs predictions logged in both runs).",
        epilog="example: toolkit compare 1a2b... 3c4d... --max-regression 2",
    )
    compare.add_argument("run_a", metavar="RUN_A")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument(
        "--max-regression",
        type=float,
        default=None,
        metavar="PP",
        help="fail when any slice got worse by more than PP percentage points",
    )
    compare.add_argument(
        "--slices", default=None, metavar="COLS", help="comma-separated slice columns"
    )
    compare.add_argument(
        "--min-slice-rows",
        type=int,
        default=MIN_GATE_ROWS,
        metavar="N",
        help=f"the gate looks only at slices with at least N rows in both runs (default "
        f"{MIN_GATE_ROWS}): a slice of 7 rows moves 14 points when one row changes",
    )
    _uri_option(compare)
    compare.set_defaults(func=cmd_compare)

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
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``toolkit compare``: print the comparison; exit 1 past ``--max-regression``."""
    from toolkit.tracking.compare import compare_runs

    if args.max_regression is not None and args.max_regression < 0:
        raise ValidationError(f"--max-regression must be >= 0, got {args.max_regression}")
    if args.min_slice_rows < 1:
        raise ValidationError(f"--min-slice-rows must be >= 1, got {args.min_slice_rows}")
    slices = None if args.slices is None else [s.strip() for s in args.slices.split(",") if s]
    comparison = compare_runs(args.run_a, args.run_b, tracking_uri=args.tracking_uri, slices=slices)
    table = comparison.table
    for kind, title in (("param", "Params changed"), ("metric", "Metrics"), ("slice", "Slices")):
        part = table[table["kind"] == kind].drop(columns="kind")
        if part.empty:
            continue
        if kind == "slice":
            part = part.rename(columns={"a": "error_a", "b": "error_b", "delta": "delta_pp"})
        else:
            part = part.drop(columns=["n_a", "n_b"])
        print(f"{title}:")
        print(part.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print()
    if args.max_regression is None:
        return EXIT_OK
    slices_table = table[table["kind"] == "slice"]
    if slices_table.empty:
        raise ValidationError(
            "--max-regression needs predictions logged in both runs (run.log_predictions)"
        )
    sizes = slices_table[["n_a", "n_b"]].astype(float).min(axis=1)
    gated = slices_table[sizes >= args.min_slice_rows]
    small = len(slices_table) - len(gated)
    note = f" ({small} slice(s) under {args.min_slice_rows} rows not gated)" if small else ""
    worse = gated[gated["delta"].astype(float) > args.max_regression]
    if worse.empty:
        print(f"no slice got worse by more than {args.max_regression:g} pp{note}")
        return EXIT_OK
    worst = worse.sort_values("delta", ascending=False).iloc[0]
    print(
        f"{len(worse)} slice(s) got worse by more than {args.max_regression:g} pp; worst: "
        f"{worst['name']} {float(worst['delta']):+.2f} pp{note}",
        file=sys.stderr,
    )
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
        print(f"{r.outcome:<8} {r.spool_run_id} {r.target_uri} {where}")
    counts = {o: sum(r.outcome == o for r in results) for o in ("synced", "skipped", "failed")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()))
    return EXIT_FAILURE if counts["failed"] or counts["skipped"] else EXIT_OK
