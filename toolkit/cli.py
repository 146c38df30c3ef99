"""The `toolkit` command line. It parses arguments and calls the public API."""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit._files import check_outputs, write_atomic
from toolkit._terminal import printable
from toolkit.exceptions import ColumnNotFoundError, ToolkitError, ValidationError

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


def _is_glob(text: str) -> bool:
    return "*" in text or "?" in text or "[" in text


def _feature_columns(
    columns: Any, value: str | None, exclude: Sequence[str] = ()
) -> list[str] | None:
    """``--features``: comma-separated names and globs (``"age,num_*"``), each glob
    expanded in table order; a name or glob that matches nothing is named. Columns in
    ``exclude`` (another system's answers) are left out of a glob and refused by name."""
    from toolkit._checks import resolve_columns

    if value is None:
        return None
    picked: list[str] = []
    for item in _split(value) or []:
        glob = _is_glob(item)
        if not glob and item in exclude:
            raise ValidationError(
                f"--features names {item!r}, a --reference column: another system's "
                "answers are not a feature"
            )
        for name in resolve_columns(columns, item if glob else [item], "feature"):
            if name not in picked and name not in exclude:
                picked.append(name)
    return picked


#: Largest input file, in MiB (decompressed); ``TOOLKIT_MAX_INPUT_MB`` overrides it.
DEFAULT_MAX_INPUT_MB = 2048
#: Compressed CSVs read by their suffix (pandas infers the same ones).
_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma", ".zip": "zip"}
_CHUNK = 1 << 20


def max_input_bytes() -> int:
    """The input size limit: ``TOOLKIT_MAX_INPUT_MB`` (MiB) or the default."""
    import os

    text = os.environ.get("TOOLKIT_MAX_INPUT_MB", "").strip()
    if not text:
        return DEFAULT_MAX_INPUT_MB << 20
    try:
        value = float(text)
    except ValueError:
        raise InputFileError(
            f"TOOLKIT_MAX_INPUT_MB must be a number of MiB, got '{printable(text)}'"
        ) from None
    if not value > 0:
        raise InputFileError(f"TOOLKIT_MAX_INPUT_MB must be positive, got '{printable(text)}'")
    return int(value * (1 << 20))


def read_table(path: str | Path) -> Any:
    """Read CSV (also .gz, .bz2, .xz, .zip; also a pipe such as /dev/stdin) or Parquet
    (by extension), at most :func:`max_input_bytes`, with one-line errors instead of
    tracebacks: duplicate header names, ragged rows and undecodable bytes are refused
    with their line."""
    import pandas as pd

    path = Path(path)
    shown = printable(str(path))
    if not path.exists():
        raise InputFileError(f"file not found: {shown}")
    if path.is_dir():
        raise InputFileError(f"{shown} is a folder, not a CSV or Parquet file")
    limit = max_input_bytes()
    if path.is_file() and path.stat().st_size > limit:
        raise InputFileError(
            f"{shown} is {_mib(path.stat().st_size)} MiB, over the input limit of "
            f"{_mib(limit)} MiB (set TOOLKIT_MAX_INPUT_MB to raise it)"
        )
    parquet = path.suffix.lower() in (".parquet", ".pq")
    raw = _read_bytes(path, limit, shown, binary=parquet)
    if not raw:
        raise InputFileError(f"{shown} is empty")
    try:
        if parquet:
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            text = _decode(raw, shown)
            del raw
            _check_csv(text, shown)
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(io.StringIO(text), index_col=False)
    except ToolkitError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{shown} is empty") from exc
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        ValueError,
        OSError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"cannot read {shown}: {printable(first)}") from exc
    if len(frame) == 0:
        raise InputFileError(f"{shown} has a header but no rows")
    return frame


def _mib(n_bytes: int) -> str:
    mib = n_bytes / 2**20
    return f"{mib:,.0f}" if mib >= 10 else f"{mib:.2g}"


def _read_bytes(path: Path, limit: int, shown: str, *, binary: bool = False) -> bytes:
    """The file's bytes, decompressed by suffix, refused past ``limit`` (also for pipes
    and devices, whose size is unknown) and when the start holds NUL bytes (a binary
    file, or /dev/zero)."""
    import bz2
    import gzip
    import lzma
    import zipfile

    kind = _COMPRESSED.get(path.suffix.lower())
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise InputFileError(
                        f"{shown} holds {len(names)} files; give a zip with one CSV"
                    )
                handle = archive.open(names[0])
                return _read_capped(handle, limit, shown, kind, binary)
        opener = {"gzip": gzip.open, "bz2": bz2.open, "lzma": lzma.open}.get(kind or "", open)
        with opener(path, "rb") as handle:
            return _read_capped(handle, limit, shown, kind, binary)
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        what = f"as {kind} " if kind else ""
        raise InputFileError(f"cannot read {shown} {what}({printable(str(exc))})") from exc


def _read_capped(handle: Any, limit: int, shown: str, kind: str | None, binary: bool) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = handle.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        if not chunks and not binary and b"\x00" in chunk:
            at = chunk.index(b"\x00")
            raise InputFileError(
                f"{shown} is not text: byte {at} is NUL; give a CSV (plain, .gz, .bz2, .xz "
                "or .zip) or a Parquet file (.parquet)"
            )
        size += len(chunk)
        if size > limit:
            what = "decompressed " if kind else ""
            raise InputFileError(
                f"{shown} holds more than {_mib(limit)} MiB {what}(the input limit; "
                "set TOOLKIT_MAX_INPUT_MB to raise it)"
            )
        chunks.append(chunk)


def _decode(raw: bytes, shown: str) -> str:
    """UTF-8 text (a BOM is dropped); an undecodable byte is refused with its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputFileError(
            f"{shown} line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}): save the file as UTF-8"
        ) from exc


def _check_csv(text: str, shown: str) -> None:
    """The header names each column once (pandas would rename a repeat 'age.1'), and every
    record has as many fields as the header (pandas pads short rows silently)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))  # pandas has no field limit
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            return
        seen: dict[str, int] = {}
        for j, name in enumerate(header):
            if name in seen:
                raise InputFileError(
                    f"{shown} has duplicate column names: '{printable(name)}' is column "
                    f"{seen[name] + 1} and column {j + 1}; rename one"
                )
            seen[name] = j
        width = len(header)
        for row in reader:
            if row and len(row) != width:
                raise InputFileError(
                    f"{shown} line {reader.line_num} has {len(row)} fields but the header "
                    f"has {width}"
                )
    except csv.Error as exc:
        raise InputFileError(f"cannot read {shown}: {printable(str(exc))}") from exc
    finally:
        csv.field_size_limit(limit)


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
        metavar="COLS|GLOBS",
        help="comma-separated feature columns or globs, e.g. 'age,num_*' (default: every "
        "other column)",
    )
    parser.add_argument(
        "--embeddings",
        metavar="COLS|GLOB",
        help="embedding columns for the error clusters: a glob such as 'e_*' or a "
        "comma-separated list",
    )
    parser.add_argument(
        "--sample-weight",
        metavar="COL",
        help="row weights (>= 0): every metric, slice, error pattern and threshold counts "
        "each row by its weight; never a feature",
    )
    parser.add_argument(
        "--images",
        metavar="COL",
        help="a column of image file paths, one per row: the report shows thumbnails of "
        "the worst label issues, the listed clusters' errors and the labeling queue",
    )


def _predictions(args: argparse.Namespace, frame: Any = None, exclude: Sequence[str] = ()) -> Any:
    """The model's Predictions of FILE (or ``frame``); the columns in ``exclude`` (the
    references') are neither features nor anything else of the model's."""
    from toolkit.data import Predictions

    frame = read_table(args.file) if frame is None else frame
    if args.pred is None and args.proba is None:
        raise ValidationError("give --pred, --proba, or both")
    features = _feature_columns(frame.columns, args.features, exclude)
    if exclude:
        frame = frame.drop(columns=list(exclude))  # a new frame: read_table's is kept
    return Predictions.from_frame(
        frame,
        target=args.target,
        pred=args.pred,
        proba=_columns_or_glob(args.proba),
        features=features,
        id=args.id,
        embeddings=_columns_or_glob(getattr(args, "embeddings", None)),
        sample_weight=getattr(args, "sample_weight", None),
        images=getattr(args, "images", None),
    )


# ------------------------------------------------- diagnose: references, cost, calibration
COST_SYNTAX = "'FP,FN' (2 numbers) or 'TN,FP,FN,TP' (4 numbers)"


def _cost_matrix(text: str | None) -> list[list[float]] | None:
    """``--cost``: 'FP,FN' is the cost of a false positive and of a false negative (right
    answers cost 0); 'TN,FP,FN,TP' the whole matrix, rows the true class (negative,
    positive) and columns the predicted one, as ``diagnose(cost=)`` takes it."""
    import math

    if text is None:
        return None
    shown = printable(text)
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValidationError(f"--cost takes {COST_SYNTAX}, got '{shown}'") from None
    if len(values) not in (2, 4):
        raise ValidationError(f"--cost takes {COST_SYNTAX}, got {len(values)} numbers in '{shown}'")
    if not all(math.isfinite(v) for v in values):
        raise ValidationError(f"--cost values must be finite numbers, got '{shown}'")
    if any(v < 0 for v in values):
        raise ValidationError(f"--cost values are costs and cannot be negative, got '{shown}'")
    if not any(values):
        raise ValidationError(f"--cost is all zeros ('{shown}'): every threshold would cost 0")
    if len(values) == 2:
        return [[0.0, values[0]], [values[1], 0.0]]
    return [values[:2], values[2:]]


def _reference_specs(items: Sequence[str] | None) -> dict[str, str]:
    """``--reference NAME=COLUMN`` (repeatable): each name with its column or glob."""
    specs: dict[str, str] = {}
    for item in items or []:
        name, sep, column = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise ValidationError(
                f"--reference takes NAME=COLUMN (e.g. human=human_label or v1='v1_p_*'), "
                f"got '{printable(item)}'"
            )
        if not column:
            raise ValidationError(
                f"--reference '{printable(name)}=' names no column: give NAME=COLUMN"
            )
        if name in specs:
            raise ValidationError(f"--reference '{printable(name)}' is given twice")
        specs[name] = column
    return specs


def _reference_columns(
    frame: Any, specs: dict[str, str], args: argparse.Namespace
) -> dict[str, list[str]]:
    """The columns of each reference in FILE; none of them is one of the model's."""
    import fnmatch

    from toolkit._checks import preview, resolve_columns

    columns = [str(c) for c in frame.columns]
    own = {
        c: flag
        for c, flag in ((args.target, "--target"), (args.pred, "--pred"), (args.id, "--id"))
        if c
    }
    if args.proba is not None:
        for c in resolve_columns(columns, _columns_or_glob(args.proba), "proba"):
            own[c] = "--proba"
    out: dict[str, list[str]] = {}
    for name, spec in specs.items():
        if _is_glob(spec):
            cols = [c for c in columns if fnmatch.fnmatchcase(c, spec)]
        else:
            cols = [spec] if spec in columns else []
        if not cols:
            what = "no column matching" if _is_glob(spec) else "no column"
            raise ColumnNotFoundError(
                f"--reference {printable(name)}: {printable(str(args.file))} has {what} "
                f"'{printable(spec)}'; it has {printable(preview(columns, 12))}"
            )
        taken = [c for c in cols if c in own]
        if taken:
            raise ValidationError(
                f"--reference {printable(name)}: column '{printable(taken[0])}' is the "
                f"model's own ({own[taken[0]]}); a reference is another system's answers"
            )
        out[name] = cols
    return out


def _reference_values(
    frame: Any, specs: dict[str, str], columns: dict[str, list[str]], p: Any
) -> dict[str, Any]:
    """What ``diagnose(references=)`` takes: a column of labels (empty where the
    reference did not answer), or a probability matrix in the model's class order
    (a row of empty cells where it did not answer)."""
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for name, cols in columns.items():
        if not _is_glob(specs[name]):
            out[name] = frame[cols[0]]
            continue
        if not p.is_classification:
            raise ValidationError(
                f"--reference {printable(name)}: probability columns need a "
                f"classification task; this is {p.task}"
            )
        prefix = specs[name].split("*")[0] if "*" in specs[name] else ""
        by_class = {c[len(prefix) :]: c for c in cols}
        names = [str(c) for c in p.classes]
        if sorted(by_class) != sorted(names):
            raise ValidationError(
                f"--reference {printable(name)}: the columns of '{printable(specs[name])}' "
                f"name the classes {printable(sorted(by_class))} but the model's classes "
                f"are {printable(names)}"
            )
        for c in cols:
            if not pd.api.types.is_numeric_dtype(frame[c]):
                raise ValidationError(
                    f"--reference {printable(name)}: column '{printable(c)}' is not numeric"
                )
        out[name] = np.column_stack([frame[by_class[c]].to_numpy(float) for c in names])
    return out


def _calibrator(args: argparse.Namespace, p: Any) -> Any:
    """``--calibration FILE``: isotonic calibration fitted on FILE's rows (the same
    target, probability and id columns), refused now if it shares rows with the input."""
    from toolkit import calibrate
    from toolkit.data import Predictions

    if args.calibration is None:
        return None
    if args.proba is None:
        raise ValidationError("--calibration needs --proba: a calibration maps probabilities")
    try:
        frame = read_table(args.calibration)
        p_cal = Predictions.from_frame(
            frame,
            target=args.target,
            proba=_columns_or_glob(args.proba),
            id=args.id,
            features=[],
        )
        calibration = calibrate(p_cal, method="isotonic")
        calibration.apply(p)  # shared rows are refused before the analyses, not after
    except ToolkitError as exc:
        raise type(exc)(f"--calibration {printable(args.calibration)}: {exc}") from exc
    return calibration


class _Progress:
    """One line per step on stderr with the seconds since the start, on a terminal or
    not (a CI log shows where the time goes); nothing when ``quiet``."""

    def __init__(self, quiet: bool = False) -> None:
        self.live = not quiet
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

    check_outputs([args.file, args.calibration], [args.json, args.html])
    cost = _cost_matrix(args.cost)
    specs = _reference_specs(args.reference)
    progress = _Progress(quiet=args.quiet)  # its first line once the checks have passed
    frame = read_table(args.file)
    ref_columns = _reference_columns(frame, specs, args)
    p = _predictions(
        args, frame, exclude=sorted({c for cols in ref_columns.values() for c in cols})
    )
    if cost is not None and (p.task != "binary" or p.proba is None):
        raise ValidationError(
            "--cost chooses the threshold of a binary classifier with probabilities; "
            + (f"this is a {p.task} task" if p.task != "binary" else "give --proba")
        )
    references = _reference_values(frame, specs, ref_columns, p) if specs else None
    calibration = _calibrator(args, p)
    if args.run_id:  # a wrong run id fails now, not after minutes of analyses
        from toolkit.tracking.attach import check_run

        check_run(args.run_id, tracking_uri=args.tracking_uri)
    diagnosis = diagnose(
        p,
        slices=_split(args.slices),
        sections=_split(args.sections),
        references=references,
        calibration=calibration,
        cost=cost,
        random_state=args.random_state,
        run_id=args.run_id,
        meta={"source": str(args.file)},
        progress=progress,
    )
    if not args.quiet:
        _print_diagnosis(diagnosis, p)
    if args.json:
        diagnosis.to_json(args.json)
        print(f"Wrote {printable(args.json)}")
    if args.html:
        progress("rendering the report")
        diagnosis.to_html(args.html)
        print(f"Wrote {printable(args.html)}")
    if args.run_id:
        from toolkit.tracking.attach import log_to_run

        progress(f"logging to MLflow run {args.run_id}")
        written = log_to_run(
            args.run_id, diagnosis=diagnosis, predictions=p, tracking_uri=args.tracking_uri
        )
        print(f"Logged {len(written)} artifacts to run {printable(args.run_id)}")
    return EXIT_OK


def _print_diagnosis(diagnosis: Any, p: Any) -> None:
    """What `diagnose` prints: the summary sentences first, then the metrics beside their
    baselines, the five most severe error patterns and what was skipped."""
    from toolkit.report.summary import summary_sentences

    print(f"{p.n:,} rows, task {p.task}, error rate {p.errors.mean():.2%}")
    print("Summary:")
    for sentence in summary_sentences(diagnosis):
        print(f"- {printable(sentence)}")
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
                f"{row.errors:>6,} of {row.n:>7,}  excess {row.excess_pp:5.2f} pp  "
                f"{printable(row.pattern)}"
            )
    if diagnosis.error_patterns is not None and not diagnosis.error_patterns.exact:
        for limit in diagnosis.error_patterns.limits:
            print(f"Error patterns: the search limited itself: {limit}")
    if diagnosis.label_issues is not None:
        flagged = int(diagnosis.label_issues.table["is_issue"].sum())
        print(f"Label issues: {flagged:,} rows are likely label errors or ambiguous examples")
    for name, reason in diagnosis.skipped.items():
        if reason != "not requested":
            print(f"skipped {name}: {printable(reason)}")


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
        labeled = None
        features = _feature_columns(frame.columns, args.features)
        if args.strategy in ("error_neighbourhood", "hybrid"):
            if args.labeled is None:
                raise ValidationError(
                    f"--strategy {args.strategy} needs --labeled FILE: labeled rows with the "
                    "model's predictions, in the same columns as the pool, and --target"
                )
            if args.target is None:
                raise ValidationError("--labeled needs --target, the label column of that file")
            labeled_frame = read_table(args.labeled)
            labeled = _predictions(
                argparse.Namespace(**{**vars(args), "file": args.labeled}), labeled_frame
            )
            if features is None and args.embeddings is None:
                features = _shared_numeric_columns(frame, labeled_frame, args)
        pool = LabelingPool.from_frame(
            frame,
            proba=_columns_or_glob(args.proba),
            id=args.id,
            embeddings=_columns_or_glob(args.embeddings),
            features=features,
        )
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
    print(f"Wrote {len(sheet)} {what} to {printable(out)}")
    for row in sheet.head(5).itertuples():
        print(f"  {row.rank:>3}. id {printable(row.id)}: {printable(row.reason)}")
    return EXIT_OK


def _shared_numeric_columns(pool: Any, labeled: Any, args: argparse.Namespace) -> list[str]:
    """The neighbours' space when neither --features nor --embeddings is given: the pool's
    numeric columns without missing values that --labeled has too, numeric and complete,
    apart from the probabilities, ids, labels and predictions."""
    import pandas as pd

    from toolkit._checks import resolve_columns

    skip = {args.id, args.target, args.pred}
    skip.update(resolve_columns(pool.columns, _columns_or_glob(args.proba), "proba"))

    def usable(frame: Any, column: str) -> bool:
        values = frame[column]
        return pd.api.types.is_numeric_dtype(values) and not values.isna().any()

    picked = [
        c
        for c in map(str, pool.columns)
        if c not in skip and c in labeled.columns and usable(pool, c) and usable(labeled, c)
    ]
    if not picked:
        raise ValidationError(
            f"--strategy {args.strategy} found no numeric column (complete, not the "
            "probabilities or the id) that FILE and --labeled share; give --features or "
            "--embeddings"
        )
    print(f"Neighbours found on {len(picked)} numeric columns: {printable(', '.join(picked))}")
    return picked


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
        f"(error rate {sample.error_rate:.2%}) to {printable(out)}. Fill the 'tags' column "
        f"(several tags separated by ';'), then run: toolkit rank-tags {printable(out)}"
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
    if ranking.table.empty:  # nothing tagged yet: say what to do, not "Empty DataFrame"
        raise InputFileError(
            f"none of the {ranking.n_reviewed:,} errors in {args.file} has a tag in column "
            f"{args.tags!r} yet: write each error's causes there (separated by "
            f"{args.sep!r}), then run rank-tags again"
        )
    if args.out:
        write_atomic(args.out, lambda tmp: ranking.table.to_csv(tmp, index=False))
    print(
        f"{ranking.n_reviewed} reviewed errors ({ranking.n_untagged} untagged), "
        f"overall error rate {ranking.error_rate:.2%}. Points of error each tag holds:"
    )
    table = ranking.table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
    print("\n".join(printable(line) for line in table.splitlines()))
    return EXIT_OK


def _split_side(frame: Any, args: argparse.Namespace, name: str) -> tuple[Any, str | None]:
    """One side of `check-splits`: Predictions when the file has the label and prediction
    columns, otherwise its features (and why the model's errors cannot be counted)."""
    import fnmatch

    from toolkit.data import Predictions

    columns = [str(c) for c in frame.columns]
    proba = _columns_or_glob(args.proba)
    if isinstance(proba, str):
        proba_cols = [c for c in columns if fnmatch.fnmatchcase(c, proba)]
    else:
        proba_cols = [c for c in proba or [] if c in columns]
    pred_ok = args.pred is not None and args.pred in columns
    if args.id is not None and args.id not in columns:
        raise InputFileError(f"{name} has no id column {args.id!r}; it has {columns[:12]}")
    reason = None
    if args.target not in columns:
        reason = f"{name} has no label column {args.target!r}"
    elif not pred_ok and not proba_cols:
        given = " or ".join(
            f"{flag} {value!r}"
            for flag, value in (("--pred", args.pred), ("--proba", args.proba))
            if value is not None
        )
        reason = f"{name} has no prediction columns" + (f" ({given} matched none)" if given else "")
    if reason is None:
        p = Predictions.from_frame(
            frame,
            target=args.target,
            pred=args.pred if pred_ok else None,
            proba=proba if proba_cols else None,
            id=args.id,
        )
        return p, None
    drop = [c for c in (args.target, args.pred, *proba_cols) if c is not None and c in columns]
    return frame.drop(columns=drop), reason


def _cmd_check_splits(args: argparse.Namespace) -> int:
    import dataclasses

    from toolkit import check_splits, diagnose
    from toolkit.data import Predictions

    check_outputs([args.train, args.test], [args.json, args.html])
    progress = _Progress(quiet=not sys.stderr.isatty())  # a CI gate: its verdict, no chatter
    train, train_reason = _split_side(read_table(args.train), args, "TRAIN")
    test, test_reason = _split_side(read_table(args.test), args, "TEST")
    if args.html and not isinstance(test, Predictions):
        raise ValidationError(f"--html needs the model's predictions on TEST: {test_reason}")
    options = {"group": args.group, "time": args.time, "id": args.id}
    if isinstance(test, Predictions):
        diagnosis = diagnose(
            test,
            splits={"reference": train, **options},
            sections=["metrics", "leakage", "splits", "error_patterns"],
            random_state=args.random_state,
            meta={"source": str(args.test), "reference": str(args.train)},
            progress=progress,
        )
        check = diagnosis.splits
    else:
        diagnosis = None
        check = check_splits(test, train, random_state=args.random_state, **options)
    if "fit" in check.skipped and (train_reason or test_reason):
        why = "; ".join(r for r in (train_reason, test_reason) if r)
        check = dataclasses.replace(
            check, skipped={**check.skipped, "fit": f"{why}: fit compares the model's errors"}
        )
    print(f"{check.n_train:,} training rows against {check.n_test:,} test rows")
    for row in check.table.itertuples():
        print(f"  {row.check:<17} {row.status:<22} {printable(row.detail)}")
    if args.json:
        from toolkit._json import dumps

        payload = {"meta": {"train": str(args.train), "test": str(args.test)}, **check.to_dict()}
        shares = None if diagnosis is None else diagnosis.split_pattern_shares
        payload["pattern_shares"] = None if shares is None else shares.to_dict(orient="records")
        write_atomic(args.json, lambda tmp: tmp.write_text(dumps(payload) + "\n", "utf-8"))
        print(f"Wrote {args.json}")
    if args.html and diagnosis is not None:
        progress("rendering the report")
        results = {**diagnosis.results, "splits": check}
        dataclasses.replace(diagnosis, results=results).to_html(args.html)
        print(f"Wrote {args.html}")
    if check.leakage_found:
        print(
            "Leakage: rows or groups are shared across the split; the test score is "
            "optimistic until they are removed",
            file=sys.stderr,
        )
        return EXIT_FAILURE
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
        "--slices sex,race,age --reference human=human_label --reference v1='v1_p_*' "
        "--cost 1,5 --calibration calib.csv --html reports/test.html --json reports/test.json",
    )
    _add_input_options(diag)
    diag.add_argument("--slices", metavar="COLS", help="columns for sliced metrics")
    diag.add_argument(
        "--reference",
        action="append",
        metavar="NAME=COLUMN",
        help="another system's answers in FILE, shown beside the model with the gap "
        "(repeatable): COLUMN holds its predicted labels (an empty cell where it gave "
        "none, e.g. human labels on some rows) or is a glob of its probability columns "
        "such as 'v1_p_*' (the rest of each name is the class); never a feature",
    )
    diag.add_argument(
        "--cost",
        metavar="FP,FN|TN,FP,FN,TP",
        help="binary tasks with --proba: choose the threshold of least total cost. 'FP,FN' "
        "is the cost of a false positive and of a false negative (e.g. '1,5'; right "
        "answers cost 0); 'TN,FP,FN,TP' gives all four cells. Costs are >= 0; the "
        "positive class is the second of the model's classes",
    )
    diag.add_argument(
        "--calibration",
        metavar="FILE",
        help="the calibration split (CSV or Parquet with the same --target, --proba and "
        "--id columns, rows not in FILE): isotonic calibration is fitted on it and judged "
        "on FILE (ECE, Brier, log loss before and after)",
    )
    diag.add_argument("--sections", metavar="NAMES", help="run only these sections")
    diag.add_argument("--json", metavar="PATH", help="write the diagnosis as JSON")
    diag.add_argument("--html", metavar="PATH", help="write the offline HTML report")
    diag.add_argument(
        "--run-id", metavar="ID", help="log the report, JSON and predictions to this MLflow run"
    )
    diag.add_argument("--tracking-uri", metavar="URI", help="MLflow store of --run-id")
    diag.add_argument("--random-state", type=_seed, default=0, metavar="N")
    diag.add_argument(
        "--quiet",
        action="store_true",
        help="print neither the findings nor the progress (only what was written)",
    )
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
    queue.add_argument(
        "--features",
        metavar="COLS|GLOBS",
        help="numeric feature columns for the neighbours, e.g. 'x_*,age' (default without "
        "--embeddings: every complete numeric column FILE and --labeled share, apart from "
        "probabilities, ids, labels and predictions)",
    )
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


def _add_check_splits(sub: Any) -> None:
    """The options of `toolkit check-splits`."""
    check = sub.add_parser(
        "check-splits",
        help="before blaming the model: fit, shift, duplicates and groups across a split",
        description="Compare the training rows (TRAIN) with the test rows (TEST): training "
        "against test error with a verdict (underfitting, overfitting, neither), distribution "
        "shift by adversarial validation (ROC AUC of a classifier telling the files apart, "
        "and the features that give them away), exact and near-duplicate rows, groups with "
        "rows in both files and the error rate by period. A file without the label or "
        "prediction columns (production rows) still gets shift and duplicates. Exit 1 when "
        "rows or groups are shared across the split, so it can gate CI.",
        epilog="example: toolkit check-splits train.csv test.csv --target income --proba "
        "'p_*' --group household --json splits.json --html splits.html",
    )
    check.add_argument("train", metavar="TRAIN", help="training (or reference) rows, CSV/Parquet")
    check.add_argument("test", metavar="TEST", help="test (evaluated) rows, CSV or Parquet")
    check.add_argument("--target", required=True, metavar="COL", help="true label column")
    check.add_argument("--pred", metavar="COL", help="predicted label column")
    check.add_argument(
        "--proba", metavar="COLS|GLOB", help="probability columns: a glob such as 'p_*'"
    )
    check.add_argument("--id", metavar="COL", help="unique row id column")
    check.add_argument("--group", metavar="COL", help="group column (one patient, one user)")
    check.add_argument("--time", metavar="COL", help="time column: error rate by period")
    check.add_argument("--json", metavar="PATH", help="write the findings as JSON")
    check.add_argument("--html", metavar="PATH", help="write the offline HTML report")
    check.add_argument("--random-state", type=_seed, default=0, metavar="N")
    check.set_defaults(func=_cmd_check_splits)


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

    for add in (
        _add_demo,
        _add_diagnose,
        _add_label_queue,
        _add_error_sample,
        _add_rank_tags,
        _add_check_splits,
    ):
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
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(args.command)
            return args.func(args)
    except ToolkitError as exc:
        print(f"toolkit {args.command}: error: {printable(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"toolkit {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"toolkit {args.command}: error: {printable(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def _warning_line(command: str) -> Any:
    """``warnings.showwarning`` for the command: one line, control characters shown as
    escapes, no source line."""

    def show(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        print(f"toolkit {command}: warning: {printable(message)}", file=sys.stderr)

    return show
