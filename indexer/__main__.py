"""``python -m indexer reindex --catalogue PATH``: rebuild the search index with a zero-downtime switch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m indexer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    re_ = sub.add_parser(
        "reindex",
        help="validate the catalogue, encode it and switch the serving index to the new version",
        description="Writes a new index version beside the serving one and switches atomically; "
        "a failed or killed run leaves the previous version serving.",
    )
    re_.add_argument("--catalogue", type=Path, default=settings.catalogue_path, help="products JSONL file")
    re_.add_argument("--if-stale", action="store_true", help="skip when the serving index was built from the same "
                     "catalogue with the same model")
    re_.add_argument("--batch-size", type=int, default=settings.batch_size)
    re_.add_argument("--model", choices=["arca", "base"], default=settings.model)
    re_.add_argument("--json", type=Path, help="also write the summary as JSON here")
    re_.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings().model_copy(update={"model": args.model})
    if not args.catalogue.exists():
        print(f"error: catalogue {args.catalogue} not found (pass --catalogue PATH)", file=sys.stderr)
        return 2

    from core.store import open_store
    from indexer.job import reindex
    from model.loader import load_encoder

    encoder = load_encoder(settings)
    store = open_store(settings)
    try:
        summary = reindex(
            args.catalogue, encoder, store, batch_size=args.batch_size, if_stale=args.if_stale,
            progress=not args.no_progress,
        )
    finally:
        store.close()
    print(summary)
    if args.json:
        args.json.write_text(json.dumps(summary.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
