"""`modelgate churn train`: train the churn model and write its artifact directory.

    modelgate churn train [--out DIR] [--rows N] [--seed S] [--threshold T]

Progress goes to stderr, the one-line summary to stdout. Exit codes: 0 trained, 2 bad usage or an
`--out` that cannot be written (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["main"]

PROG = "modelgate churn"
DEFAULT_OUT = Path("data/models/churn")


class _UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so the error stays on one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Train and package the churn model.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    train = commands.add_parser(
        "train",
        help="generate customers, fit the model, write the artifact",
        description="Generate synthetic customers, fit scaler + one-hot + logistic regression, and "
        "write model.joblib, metadata.json, train_reference.parquet and val_scores.parquet to --out.",
    )
    train.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"artifact directory (default: {DEFAULT_OUT})"
    )
    train.add_argument(
        "--rows", type=_positive_int, default=20_000, help="customers to generate (default: 20000)"
    )
    train.add_argument("--seed", type=_seed, default=7, help="random seed (default: 7)")
    train.add_argument(
        "--threshold", type=_probability, default=0.5, help="serving threshold for `churn` (default: 0.5)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(args_in)
    except _UsageError as exc:
        print(f"{PROG}: {exc} (see `{PROG} train --help`)", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0

    # Imported here so `modelgate churn --help` does not pay for scikit-learn and pandas.
    from adapters.churn.artifact import ArtifactError
    from adapters.churn.train import TrainArgumentError, train_model

    def progress(message: str) -> None:
        print(f"churn train: {message}", file=sys.stderr, flush=True)

    try:
        meta = train_model(
            args.out, rows=args.rows, seed=args.seed, threshold=args.threshold, progress=progress
        )
    except (ArtifactError, TrainArgumentError) as exc:
        print(f"{PROG} train: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG} train: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(
        f"trained {meta.version}: train AUC {meta.train_auc:.4f}, validation AUC {meta.validation_auc:.4f}, "
        f"churn rate {meta.train_churn_rate or 0.0:.3f}, n_train {meta.n_train}, "
        f"n_validation {meta.n_validation} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
