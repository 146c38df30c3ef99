"""The `toolkit` command line. It parses arguments and calls the public API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from toolkit.exceptions import ToolkitError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _cmd_demo(args: argparse.Namespace) -> int:
    from toolkit.demo import run_demo

    run_demo(args.out, random_state=args.random_state)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolkit",
        description="Experiment tracking and error analysis for machine-learning models.",
        epilog="Run 'toolkit COMMAND --help' for a command's options.",
    )
    from toolkit import __version__

    parser.add_argument("--version", action="version", version=f"toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="train models on the bundled Adult census data and diagnose the best one",
        description="Train a logistic regression and a gradient-boosting model on the UCI "
        "Adult train split, evaluate on the test split, print metrics beside baselines "
        "and the slices that are significantly worse, and write DIR/demo.json.",
        epilog="example: toolkit demo --out reports",
    )
    demo.add_argument("--out", default="reports", metavar="DIR", help="output folder")
    demo.add_argument("--random-state", type=int, default=0, metavar="N")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
