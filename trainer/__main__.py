"""Command line: ``python -m trainer train ...`` and ``python -m trainer eval ...``."""

import argparse
import json
import logging
import sys

from trainer.checkpoint import CheckpointError
from trainer.config import add_config_arguments, resolve_config
from trainer.data import DatasetError


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a CoDiNet model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_config_arguments(train)
    evaluate = commands.add_parser("eval", help="print the metrics of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data-dir", help="where the dataset lies (default: as trained)")
    evaluate.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = get_args_parser().parse_args(argv)
    try:
        if args.command == "train":
            from trainer.train import main as train

            train(resolve_config(args))
        else:
            from trainer.evaluate import evaluate_checkpoint

            metrics = evaluate_checkpoint(args.checkpoint, args.data_dir, args.device)
            if args.json:
                print(json.dumps(metrics))
            else:
                for name, value in metrics.items():
                    print(f"{name:>22}  {value}")
    except (DatasetError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
