"""The `toolkit` command line. It parses arguments and calls the public API."""

from __future__ import annotations

import argparse
import csv
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.exceptions import ToolkitError, ValidationError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: Columns the CSV of `toolkit error-sample` adds so `rank-tags` can extrapolate.
ERROR_RATE_COLUMN = "overall_error_rate"


class InputFileError(ValidationError):
    """An input file is missing, empty or cannot be parsed."""


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
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from toolkit.demo import run_demo

    run_demo(args.out, random_state=args.random_state)
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from toolkit.analysis.diagnose import diagnose

    p = _predictions(args)
    diagnosis = diagnose(p, slices=_split(args.slices), random_state=args.random_state)
    m = diagnosis.metrics
    print(f"{p.n:,} rows, task {p.task}, error rate {p.errors.mean():.2%}")
    if m is not None:
        print(m.baselines.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if diagnosis.error_patterns is not None and len(diagnosis.error_patterns):
        print("Top error patterns (points of error each could remove):")
        for row in diagnosis.error_patterns.head(5).itertuples():
            print(f"  {row.gain_pp:5.2f} pp  {row.errors:>6,} of {row.n:>7,}  {row.pattern}")
    for name, reason in diagnosis.skipped.items():
        print(f"skipped {name}: {reason}")
    if args.json:
        diagnosis.to_json(args.json)
        print(f"Wrote {args.json}")
    return EXIT_OK


def _cmd_error_sample(args: argparse.Namespace) -> int:
    from toolkit.analysis.tags import error_sample

    p = _predictions(args)
    sample = error_sample(p, n=args.n, random_state=args.random_state)
    sample[ERROR_RATE_COLUMN] = sample.attrs["error_rate"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sample.to_csv(out, index=False)
    print(
        f"Wrote {len(sample)} of {sample.attrs['n_errors']} errors "
        f"(error rate {sample.attrs['error_rate']:.2%}) to {out}. Fill the 'tags' column "
        f"(several tags separated by ';'), then run: toolkit rank-tags {out}"
    )
    return EXIT_OK


def _cmd_rank_tags(args: argparse.Namespace) -> int:
    from toolkit.analysis.tags import rank_tag_values

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
    table = rank_tag_values(frame[args.tags].tolist(), float(rates[0]), sep=args.sep)
    if args.out:
        table.to_csv(args.out, index=False)
    print(
        f"{table.attrs['n_reviewed']} reviewed errors ({table.attrs['n_untagged']} untagged), "
        f"overall error rate {table.attrs['error_rate']:.2%}. Points of error each tag holds:"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return EXIT_OK


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

    demo = sub.add_parser(
        "demo",
        help="train models on the bundled Adult census data and diagnose the best one",
        description="Train a logistic regression and a gradient-boosting model on the UCI "
        "Adult train split, evaluate on the test split, print metrics beside baselines, "
        "the slices that are significantly worse and the top error patterns, and write "
        "DIR/demo.json.",
        epilog="example: toolkit demo --out reports",
    )
    demo.add_argument("--out", default="reports", metavar="DIR", help="output folder")
    demo.add_argument("--random-state", type=int, default=0, metavar="N")
    demo.set_defaults(func=_cmd_demo)

    diag = sub.add_parser(
        "diagnose",
        help="metrics beside baselines, sliced metrics and error patterns of a scored table",
        description="Read a table of labels, predictions or probabilities and features, run "
        "every analysis the columns allow and write the results as JSON.",
        epilog="example: toolkit diagnose test.csv --target income --proba 'p_*' "
        "--slices sex,race,age --json reports/test.json",
    )
    _add_input_options(diag)
    diag.add_argument("--slices", metavar="COLS", help="columns for sliced metrics")
    diag.add_argument("--json", metavar="PATH", help="write the diagnosis as JSON")
    diag.add_argument("--random-state", type=int, default=0, metavar="N")
    diag.set_defaults(func=_cmd_diagnose)

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
    sample.add_argument("--random-state", type=int, default=0, metavar="N")
    sample.set_defaults(func=_cmd_error_sample)

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

    try:
        from toolkit.tracking.commands import register
    except ImportError:  # tracking commands not installed in this build
        pass
    else:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
