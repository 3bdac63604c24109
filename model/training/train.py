"""``python -m model.training <trainer> --config FILE [--resume]``: one entry point for every trainable part.

Each subcommand maps to a trainer function in ``TRAINERS`` (Arca, the encoder; composer, the second stage of
Arca: its gate refitted over the frozen student; LaSR, the reranker; tower, Arca's distilled query tower).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _arca(args: argparse.Namespace) -> None:
    from model.training.arca.trainer import train_arca

    train_arca(args.config, resume=args.resume, run_dir=args.run_dir, output=args.output)


def _lasr(args: argparse.Namespace) -> None:
    from model.training.lasr.trainer import train_lasr

    if args.resume:
        raise SystemExit("lasr trains in minutes and keeps no resumable state: run it again without --resume")
    train_lasr(args.config, output=args.output, run_dir=args.run_dir)


def _tower(args: argparse.Namespace) -> None:
    from model.training.arca.tower_data import train_tower

    if args.resume:
        raise SystemExit("the tower trains in minutes and keeps no resumable state: run it again without --resume")
    train_tower(
        args.config, output=args.output, run_dir=args.run_dir, bundle=args.bundle, prepare_only=args.prepare_only
    )


def _composer(args: argparse.Namespace) -> None:
    from model.training.arca.refit import train_composer

    if args.resume:
        raise SystemExit("the composer refit keeps no resumable state (its loop takes minutes): run it again")
    train_composer(args.config, run_dir=args.run_dir, output=args.output)


TRAINERS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "arca": (_arca, "model/training/configs/arca.yaml"),
    "lasr": (_lasr, "model/training/configs/lasr.yaml"),
    "tower": (_tower, "model/training/configs/tower.yaml"),
    "composer": (_composer, "model/training/configs/composer.yaml"),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m model.training", description=__doc__)
    sub = parser.add_subparsers(dest="trainer", required=True)
    for name, (fn, default_config) in TRAINERS.items():
        p = sub.add_parser(name, help=f"train {name}")
        p.add_argument("--config", type=Path, default=Path(default_config), help="YAML config")
        p.add_argument("--resume", action="store_true", help="continue from the run dir's saved trainer state")
        p.add_argument("--run-dir", type=Path, default=None, help="override the config's run dir")
        p.add_argument("--output", type=Path, default=None, help="override the config's checkpoint path")
        if name == "tower":
            p.add_argument(
                "--bundle",
                type=Path,
                default=None,
                help="training bundle directory: used when it holds one, else prepared there first",
            )
            p.add_argument(
                "--prepare-only",
                action="store_true",
                help="only write the bundle (then distil elsewhere, e.g. on a GPU machine)",
            )
        p.set_defaults(fn=fn)
    args = parser.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
