"""Command line: ``python -m trainer train ...``, ``python -m trainer ablate ...``,
``python -m trainer sweep ...``, ``python -m trainer eval ...`` and
``python -m trainer import ...``."""

import argparse
import json
import logging
import shlex
import sys

from trainer.ablation import AIG_WEIGHT
from trainer.checkpoint import CheckpointError
from trainer.config import add_config_arguments, resolve_config
from trainer.data import DatasetError

# The sweep command's own flags; the others are the recipe's settings.
SWEEP_FLAGS = (
    "grid",
    "baselines",
    "seeds",
    "launcher",
    "parallel",
    "cluster",
    "timeout_min",
    "slurm_partition",
    "gpus_per_node",
    "cpus_per_task",
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a CoDiNet model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_config_arguments(train)
    ablate = commands.add_parser(
        "ablate",
        help="train variants of a recipe over seeds and report mean, spread and differences",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ablate.add_argument(
        "--variants",
        default="codinet,no-codi,aig",
        help="comma-separated: codinet (the recipe), no-codi (without consistency and "
        "diversity), aig (ConvNet-AIG's target-rate loss instead)",
    )
    ablate.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 for each variant")
    ablate.add_argument(
        "--aig-weight",
        type=float,
        default=AIG_WEIGHT,
        help="weight of ConvNet-AIG's target-rate loss in the aig variant (its own default: 2)",
    )
    add_config_arguments(ablate)
    sweep = commands.add_parser(
        "sweep",
        help="train a grid of CoDiNet settings and baselines over seeds; report the trade-off",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SETTING=V1,V2",
        help="a setting and its values (repeatable; the grid is their product): w_con, "
        "w_div, w_cost, intra_margin, inter_margin or target_blocks",
    )
    sweep.add_argument(
        "--baselines",
        default="no-codi",
        help="comma-separated, the first compared with every setting: no-codi, aig",
    )
    sweep.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 for each setting")
    sweep.add_argument(
        "--launcher",
        default="local",
        choices=["local", "submitit"],
        help="local: train here, one run after the other (or --parallel at a time); "
        "submitit: one job per run",
    )
    sweep.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="local: runs trained at a time, each in its own process with an equal share "
        "of the cores",
    )
    sweep.add_argument(
        "--cluster",
        default="slurm",
        choices=["slurm", "local"],
        help="submitit's executor: slurm, or local processes",
    )
    sweep.add_argument("--timeout-min", type=int, default=240, help="submitit: per run")
    sweep.add_argument("--slurm-partition", help="submitit on SLURM: the partition")
    sweep.add_argument("--gpus-per-node", type=int, default=0, help="submitit: GPUs per run")
    sweep.add_argument("--cpus-per-task", type=int, default=4, help="submitit: cores per run")
    add_config_arguments(sweep)
    evaluate = commands.add_parser("eval", help="print the metrics of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="the checkpoint.pt file to evaluate")
    evaluate.add_argument("--data-dir", help="where the dataset lies (default: as trained)")
    evaluate.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to run: auto (CUDA when present), cpu or cuda (default: auto)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    imported = commands.add_parser(
        "import",
        help="make a run folder of a checkpoint written by SkipNet, BlockDrop, ConvNet-AIG "
        "or CoDiNet's public code",
    )
    imported.add_argument(
        "--from",
        dest="source",
        required=True,
        help="the codebase that wrote the file: skipnet, blockdrop, convnet-aig, codinet-public",
    )
    imported.add_argument("checkpoint", help="the original file (.pth.tar, .t7, ckpt.pth)")
    imported.add_argument(
        "--dataset",
        required=True,
        help="what it was trained on: cifar10, cifar100, svhn, or imagenet (imagefolder); "
        "cifar100 and imagenet need their files under --data-dir for the class names",
    )
    imported.add_argument("--out", required=True, help="the run folder to write (runs/NAME)")
    imported.add_argument(
        "--arch", help="the architecture, where the file alone does not say (default: inferred)"
    )
    imported.add_argument(
        "--data-dir", default="data", help="where the dataset lies, for its class names"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = get_args_parser().parse_args(argv)
    try:
        if args.command == "train":
            from trainer.train import main as train

            train(resolve_config(args))
        elif args.command == "ablate":
            from trainer.ablation import run_ablation

            variants = [v.strip() for v in args.variants.split(",") if v.strip()]
            seeds, aig_weight = args.seeds, args.aig_weight
            del args.variants, args.seeds, args.aig_weight
            if seeds < 1:
                raise ValueError(f"--seeds must be at least 1, got {seeds}")
            command = "python -m trainer " + shlex.join(sys.argv[1:] if argv is None else argv)
            report = run_ablation(resolve_config(args), variants, seeds, command, aig_weight)
            print(f"report: {report['config']['out']}/REPORT.md")
        elif args.command == "sweep":
            from trainer.sweep import parse_grid, run_sweep

            own = {name: getattr(args, name) for name in SWEEP_FLAGS}
            for name in SWEEP_FLAGS:  # the rest are the recipe's settings
                delattr(args, name)
            if own["seeds"] < 1:
                raise ValueError(f"--seeds must be at least 1, got {own['seeds']}")
            if own["parallel"] < 1:
                raise ValueError(f"--parallel must be at least 1, got {own['parallel']}")
            options = {"timeout_min": own["timeout_min"], "cpus_per_task": own["cpus_per_task"]}
            if own["gpus_per_node"]:
                options["gpus_per_node"] = own["gpus_per_node"]
            if own["slurm_partition"]:
                options["slurm_partition"] = own["slurm_partition"]
            config = resolve_config(args)
            report = run_sweep(
                config,
                parse_grid(own["grid"]),
                [b.strip() for b in own["baselines"].split(",") if b.strip()],
                own["seeds"],
                "python -m trainer " + shlex.join(sys.argv[1:] if argv is None else argv),
                own["launcher"],
                own["cluster"],
                options,
                own["parallel"],
            )
            print(f"report: {config.out}/SWEEP.md")
            if report["failed"]:
                print(f"failed runs: {', '.join(report['failed'])}", file=sys.stderr)
                return 1
        elif args.command == "import":
            from trainer.field.importer import import_checkpoint

            written = import_checkpoint(
                args.source, args.checkpoint, args.dataset, args.out, args.arch, args.data_dir
            )
            print(f"imported: {written}")
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
