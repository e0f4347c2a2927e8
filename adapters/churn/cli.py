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

from adapters.cli_args import OneLineParser, non_negative_int, parse_or_exit_code, positive_int, probability

__all__ = ["build_parser", "main"]

PROG = "modelgate churn"
DEFAULT_OUT = Path("data/models/churn")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Train and package the churn model.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    train = commands.add_parser(
        "train",
        help="generate customers, fit the model, write the artifact",
        description="Generate synthetic customers, fit scaler + one-hot + logistic regression, and\n"
        "write model.joblib, metadata.json, train_reference.parquet and val_scores.parquet to --out.",
    )
    train.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"artifact directory (default: {DEFAULT_OUT})"
    )
    train.add_argument(
        "--rows", type=positive_int, default=20_000, help="customers to generate (default: %(default)s)"
    )
    train.add_argument("--seed", type=non_negative_int, default=7, help="random seed (default: %(default)s)")
    train.add_argument(
        "--threshold",
        type=probability,
        default=0.5,
        help="serving threshold for `churn`, in [0, 1] (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_or_exit_code(build_parser(), argv)
    if isinstance(args, int):  # a usage error (2, its one line printed) or --help (0)
        return args

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
