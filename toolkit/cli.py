"""The `toolkit` command line. It parses arguments and calls the public API."""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit._files import check_outputs, write_atomic
from toolkit.exceptions import ToolkitError, ValidationError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: Columns the CSV of `toolkit error-sample` adds so `rank-tags` can extrapolate.
ERROR_RATE_COLUMN = "overall_error_rate"


class InputFileError(ValidationError):
    """An input file is missing, empty or cannot be parsed."""


def _seed(text: str) -> int:
    """argparse type of --random-state: an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**32 - 1], got {value}")
    return value


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _columns_or_glob(value: str | None) -> str | list[str] | None:
    if value is None:
        return None
    return value if ("*" in value or "?" in value) and "," not in value else _split(value)


def read_table(path: str | Path) -> Any:
    """Read CSV or Parquet (by extension) with clear errors instead of tracebacks."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"file not found: {path}")
    if path.is_dir():
        raise InputFileError(f"{path} is a folder, not a CSV or Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            _check_rectangular(path)
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path} is empty") from exc
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"cannot read {path}: {first}") from exc
    if len(frame) == 0:
        raise InputFileError(f"{path} has a header but no rows")
    return frame


def _check_rectangular(path: Path) -> None:
    """Every CSV record has as many fields as the header (pandas pads short rows silently)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        width = len(header)
        for row in reader:
            if row and len(row) != width:
                raise InputFileError(
                    f"{path} line {reader.line_num} has {len(row)} fields but the header "
                    f"has {width}"
                )


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV or Parquet file, one row per example")
    parser.add_argument("--target", required=True, metavar="COL", help="true label column")
    parser.add_argument("--pred", metavar="COL", help="predicted label column")
    parser.add_argument(
        "--proba",
        metavar="COLS|GLOB",
        help="probability columns: a glob such as 'p_*' (the rest of each name is the "
        "class) or a comma-separated list in class order",
    )
    parser.add_argument("--id", metavar="COL", help="unique row id column")
    parser.add_argument(
        "--features",
        metavar="COLS",
        help="comma-separated feature columns (default: every other column)",
    )
    parser.add_argument(
        "--embeddings",
        metavar="COLS|GLOB",
        help="embedding columns for the error clusters: a glob such as 'e_*' or a "
        "comma-separated list",
    )


def _predictions(args: argparse.Namespace, frame: Any = None) -> Any:
    from toolkit.data import Predictions

    frame = read_table(args.file) if frame is None else frame
    if args.pred is None and args.proba is None:
        raise ValidationError("give --pred, --proba, or both")
    return Predictions.from_frame(
        frame,
        target=args.target,
        pred=args.pred,
        proba=_columns_or_glob(args.proba),
        features=_split(args.features),
        id=args.id,
        embeddings=_columns_or_glob(getattr(args, "embeddings", None)),
    )


class _Progress:
    """Step messages on stderr when it is a terminal; quiet otherwise (logs, CI, pipes)."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.live:
            elapsed = time.perf_counter() - self.started
            print(f"[{elapsed:6.1f} s] {message} …", file=sys.stderr, flush=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    from toolkit.demo import run_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # refused before minutes of training
        raise InputFileError(f"--out {str(out)!r} is a file; give a folder for the report")
    run_demo(out, random_state=args.random_state, tracking_uri=args.tracking_uri)
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from toolkit import diagnose

    check_outputs([args.file], [args.json, args.html])
    progress = _Progress()
    p = _predictions(args)
    progress(f"{p.n:,} rows read")
    if args.run_id:  # a wrong run id fails now, not after minutes of analyses
        from toolkit.tracking.attach import check_run

        check_run(args.run_id, tracking_uri=args.tracking_uri)
    diagnosis = diagnose(
        p,
        slices=_split(args.slices),
        sections=_split(args.sections),
        random_state=args.random_state,
        run_id=args.run_id,
        meta={"source": str(args.file)},
        progress=progress,
    )
    print(f"{p.n:,} rows, task {p.task}, error rate {p.errors.mean():.2%}")
    m = diagnosis.metrics
    if m is not None:
        print(m.baselines.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if diagnosis.error_patterns is not None and len(diagnosis.error_patterns):
        print(
            "Top error patterns, most severe first (error rate [95% CI]; excess: points "
            "regained if the pattern did as well as the rest):"
        )
        for row in diagnosis.error_patterns.table.head(5).itertuples():
            print(
                f"  {row.error_rate:6.1%} [{row.ci_low:.1%}, {row.ci_high:.1%}]  "
                f"{row.errors:>6,} of {row.n:>7,}  excess {row.excess_pp:5.2f} pp  {row.pattern}"
            )
    if diagnosis.label_issues is not None:
        flagged = int(diagnosis.label_issues.table["is_issue"].sum())
        print(f"Label issues: {flagged:,} rows are likely label errors or ambiguous examples")
    for name, reason in diagnosis.skipped.items():
        if reason != "not requested":
            print(f"skipped {name}: {reason}")
    if args.json:
        diagnosis.to_json(args.json)
        print(f"Wrote {args.json}")
    if args.html:
        progress("rendering the report")
        diagnosis.to_html(args.html)
        print(f"Wrote {args.html}")
    if args.run_id:
        from toolkit.tracking.attach import log_to_run

        progress(f"logging to MLflow run {args.run_id}")
        written = log_to_run(
            args.run_id, diagnosis=diagnosis, predictions=p, tracking_uri=args.tracking_uri
        )
        print(f"Logged {len(written)} artifacts to run {args.run_id}")
    return EXIT_OK


def _cmd_label_queue(args: argparse.Namespace) -> int:
    from toolkit.analysis.labeling import (
        LabelingPool,
        annotation_frame,
        labeling_queue,
        relabel_queue,
    )

    check_outputs([args.file, args.labeled], [args.out])
    frame = read_table(args.file)
    if args.proba is None:
        raise ValidationError("give --proba: the probability columns ('p_*' or a list)")
    if args.relabel:
        from toolkit.analysis.labels import find_label_issues

        if args.target is None:
            raise ValidationError("--relabel needs --target, the given label column of FILE")
        issues = find_label_issues(_predictions(args, frame))
        queue = relabel_queue(issues, budget=args.budget)
        what = "labels to check again"
    else:
        pool = LabelingPool.from_frame(
            frame,
            proba=_columns_or_glob(args.proba),
            id=args.id,
            embeddings=_columns_or_glob(args.embeddings),
            features=_split(args.features),
        )
        labeled = None
        if args.strategy in ("error_neighbourhood", "hybrid"):
            if args.labeled is None:
                raise ValidationError(
                    f"--strategy {args.strategy} needs --labeled FILE: labeled rows with the "
                    "model's predictions, in the same columns as the pool, and --target"
                )
            if args.target is None:
                raise ValidationError("--labeled needs --target, the label column of that file")
            labeled = _predictions(argparse.Namespace(**{**vars(args), "file": args.labeled}))
        queue = labeling_queue(
            pool,
            budget=args.budget,
            strategy=args.strategy,
            labeled=labeled,
            random_state=args.random_state,
        )
        what = f"rows to label next ({args.strategy})"
    label_column = args.label_column or ("corrected_label" if args.relabel else "label")
    sheet = annotation_frame(queue, frame, id=args.id, label_column=label_column)
    out = write_atomic(args.out, lambda tmp: sheet.to_csv(tmp, index=False))
    print(f"Wrote {len(sheet)} {what} to {out}")
    for row in sheet.head(5).itertuples():
        print(f"  {row.rank:>3}. id {row.id}: {row.reason}")
    return EXIT_OK


def _cmd_error_sample(args: argparse.Namespace) -> int:
    from toolkit import error_sample

    check_outputs([args.file], [args.out])
    p = _predictions(args)
    sample = error_sample(p, n=args.n, random_state=args.random_state)
    sheet = sample.to_frame()
    sheet[ERROR_RATE_COLUMN] = sample.error_rate
    out = write_atomic(args.out, lambda tmp: sheet.to_csv(tmp, index=False))
    print(
        f"Wrote {len(sheet)} of {sample.n_errors} errors "
        f"(error rate {sample.error_rate:.2%}) to {out}. Fill the 'tags' column "
        f"(several tags separated by ';'), then run: toolkit rank-tags {out}"
    )
    return EXIT_OK


def _cmd_rank_tags(args: argparse.Namespace) -> int:
    from toolkit.analysis.tags import rank_tag_values

    check_outputs([args.file], [args.out])
    frame = read_table(args.file)
    for col in (args.tags, ERROR_RATE_COLUMN):
        if col not in frame.columns:
            raise InputFileError(
                f"{args.file} has no column {col!r} (write it with toolkit error-sample); "
                f"columns are {list(frame.columns)[:12]}"
            )
    rates = frame[ERROR_RATE_COLUMN].dropna().unique()
    if len(rates) != 1:
        raise InputFileError(f"column {ERROR_RATE_COLUMN!r} must hold one value, got {rates[:5]}")
    ranking = rank_tag_values(frame[args.tags].tolist(), float(rates[0]), sep=args.sep)
    if args.out:
        write_atomic(args.out, lambda tmp: ranking.table.to_csv(tmp, index=False))
    print(
        f"{ranking.n_reviewed} reviewed errors ({ranking.n_untagged} untagged), "
        f"overall error rate {ranking.error_rate:.2%}. Points of error each tag holds:"
    )
    print(ranking.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return EXIT_OK


def _add_demo(sub: Any) -> None:
    """The options of `toolkit demo`."""
    demo = sub.add_parser(
        "demo",
        help="train models on the bundled Adult census data, track them, diagnose the best",
        description="Train a logistic regression and a gradient-boosting model on the UCI "
        "Adult train split, logging each (and its cross-validation folds as nested runs) "
        "to MLflow; evaluate on the test split; diagnose the better model (metrics beside "
        "baselines, slices, error patterns, error clusters, label issues, a labeling queue "
        "of held-out rows); write DIR/demo.html and DIR/demo.json and log them to the "
        "model's run.",
        epilog="example: toolkit demo --out reports",
    )
    demo.add_argument("--out", default="reports", metavar="DIR", help="output folder")
    demo.add_argument("--random-state", type=_seed, default=0, metavar="N")
    demo.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    demo.set_defaults(func=_cmd_demo)


def _add_diagnose(sub: Any) -> None:
    """The options of `toolkit diagnose`."""
    diag = sub.add_parser(
        "diagnose",
        help="every analysis of a scored table: metrics, slices, patterns, clusters, labels",
        description="Read a table of labels, predictions or probabilities and features, run "
        "every analysis the columns allow (metrics beside baselines, sliced metrics, error "
        "patterns, error clusters, label issues) and write the HTML report and JSON.",
        epilog="example: toolkit diagnose test.csv --target income --proba 'p_*' "
        "--slices sex,race,age --html reports/test.html --json reports/test.json",
    )
    _add_input_options(diag)
    diag.add_argument("--slices", metavar="COLS", help="columns for sliced metrics")
    diag.add_argument("--sections", metavar="NAMES", help="run only these sections")
    diag.add_argument("--json", metavar="PATH", help="write the diagnosis as JSON")
    diag.add_argument("--html", metavar="PATH", help="write the offline HTML report")
    diag.add_argument(
        "--run-id", metavar="ID", help="log the report, JSON and predictions to this MLflow run"
    )
    diag.add_argument("--tracking-uri", metavar="URI", help="MLflow store of --run-id")
    diag.add_argument("--random-state", type=_seed, default=0, metavar="N")
    diag.set_defaults(func=_cmd_diagnose)


def _add_label_queue(sub: Any) -> None:
    """The options of `toolkit label-queue`."""
    queue = sub.add_parser(
        "label-queue",
        help="rank an unlabeled pool: which examples to label next (CSV for annotators)",
        description="Read the model's probabilities on unlabeled rows and write the BUDGET "
        "rows to label next, with the reason each was picked and an empty 'label' column.",
        epilog="examples: toolkit label-queue pool.csv --proba 'p_*' --id id --budget 100 "
        "--out queue.csv; toolkit label-queue scored.csv --relabel --target label "
        "--proba 'p_*' --out relabel.csv",
    )
    queue.add_argument("file", metavar="FILE", help="CSV or Parquet file of unlabeled rows")
    queue.add_argument("--proba", metavar="COLS|GLOB", help="probability columns, e.g. 'p_*'")
    queue.add_argument("--id", metavar="COL", help="unique row id column (default: row number)")
    queue.add_argument("--budget", type=int, default=100, metavar="K", help="rows to queue")
    queue.add_argument(
        "--strategy",
        default="margin",
        choices=["margin", "least_confidence", "entropy", "error_neighbourhood", "hybrid"],
        help="margin (default): closest to the decision threshold first",
    )
    queue.add_argument("--embeddings", metavar="COLS|GLOB", help="embedding columns")
    queue.add_argument("--features", metavar="COLS", help="numeric feature columns")
    queue.add_argument(
        "--labeled", metavar="FILE", help="labeled rows (error_neighbourhood and hybrid)"
    )
    queue.add_argument(
        "--relabel",
        action="store_true",
        help="queue FILE's likely label errors for a second look instead (needs --target)",
    )
    queue.add_argument("--target", metavar="COL", help="label column (--relabel, --labeled)")
    queue.add_argument(
        "--label-column",
        metavar="NAME",
        help="the empty column the annotator fills in (default label; corrected_label "
        "with --relabel)",
    )
    queue.add_argument("--pred", metavar="COL", help="predicted label column of --labeled")
    queue.add_argument("--out", required=True, metavar="PATH", help="CSV to write")
    queue.add_argument("--random-state", type=_seed, default=0, metavar="N")
    queue.set_defaults(func=_cmd_label_queue)


def _add_error_sample(sub: Any) -> None:
    """The options of `toolkit error-sample`."""
    sample = sub.add_parser(
        "error-sample",
        help="write a random sample of errors to a CSV to tag by hand",
        description="Sample the model's errors (with features and predictions) into a CSV "
        "with an empty 'tags' column for an annotator.",
        epilog="example: toolkit error-sample test.csv --target label --proba 'p_*' "
        "--n 300 --out errors.csv",
    )
    _add_input_options(sample)
    sample.add_argument("--n", type=int, default=300, help="errors to sample (default 300)")
    sample.add_argument("--out", required=True, metavar="PATH", help="CSV to write")
    sample.add_argument("--random-state", type=_seed, default=0, metavar="N")
    sample.set_defaults(func=_cmd_error_sample)


def _add_rank_tags(sub: Any) -> None:
    """The options of `toolkit rank-tags`."""
    rank = sub.add_parser(
        "rank-tags",
        help="rank the tags filled into an error-sample CSV by points of error",
        description="Count the tags of the reviewed errors and extrapolate each tag's share "
        "to the overall error rate: 40 of 60 errors tagged 'blurry' at 20%% error = 13.3 "
        "points that fixing blur could remove at most.",
        epilog="example: toolkit rank-tags errors.csv --tags tags",
    )
    rank.add_argument("file", metavar="CSV", help="the CSV written by toolkit error-sample")
    rank.add_argument("--tags", default="tags", metavar="COL", help="tags column (default tags)")
    rank.add_argument("--sep", default=";", help="tag separator (default ';')")
    rank.add_argument("--out", metavar="PATH", help="also write the ranking as CSV")
    rank.set_defaults(func=_cmd_rank_tags)


def build_parser() -> argparse.ArgumentParser:
    from toolkit import __version__

    parser = argparse.ArgumentParser(
        prog="toolkit",
        description="Experiment tracking and error analysis for machine-learning models.",
        epilog="Run 'toolkit COMMAND --help' for a command's options. Exit codes: 0 ok, "
        "1 failure (one line on stderr), 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for add in (_add_demo, _add_diagnose, _add_label_queue, _add_error_sample, _add_rank_tags):
        add(sub)

    try:
        from toolkit.tracking.commands import register
    except ImportError:  # tracking commands not installed in this build
        pass
    else:
        register(sub)
    return parser


def _quiet_libraries() -> None:
    """MLflow logs INFO lines (store creation, migrations) to stderr; a command prints its
    own. MLflow sets its logger's level when imported, from ``MLFLOW_LOGGING_LEVEL``; a
    level the user chose is kept."""
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_libraries()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except ToolkitError as exc:
        print(f"toolkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"toolkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"toolkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
