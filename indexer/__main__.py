"""``python -m indexer reindex --catalogue PATH``: rebuild the search index with a zero-downtime switch.

Incremental by default (only products whose text changed are re-encoded); ``--full`` re-encodes everything.
One reindex runs at a time per index: a second one exits with status 3 and names the running one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from core.settings import get_settings

EXIT_BAD_INPUT = 2
EXIT_BUSY = 3
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m indexer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    re_ = sub.add_parser(
        "reindex",
        help="validate the catalogue, encode it and switch the serving index to the new version",
        description="Writes a new index version beside the serving one and switches atomically; "
        "a failed or killed run leaves the previous version serving. Products whose text is unchanged reuse "
        "their vectors from the serving version unless --full is given.",
    )
    re_.add_argument("--catalogue", type=Path, default=settings.catalogue_path, help="products JSONL file")
    re_.add_argument(
        "--if-stale",
        action="store_true",
        help="skip when the serving index was built from the same catalogue with the same model",
    )
    re_.add_argument(
        "--full", action="store_true", help="re-encode every product instead of reusing the vectors of unchanged ones"
    )
    re_.add_argument("--batch-size", type=int, default=settings.batch_size)
    re_.add_argument("--model", choices=["arca", "base"], default=settings.model)
    re_.add_argument("--json", type=Path, help="also write the summary as JSON here")
    re_.add_argument("--no-progress", action="store_true")
    re_.add_argument(
        "--no-journal",
        action="store_true",
        help="leave out the document API's writes (the journal beside the index); by default they are merged over "
        "the catalogue",
    )
    jo = sub.add_parser(
        "journal",
        help="show (or clear) the document API's writes kept beside the index",
        description="The journal holds every POST/DELETE /v1/products since it was last cleared; every reindex "
        "merges it over the catalogue. Clear it once its writes are in the catalogue file (the next reindex then "
        "builds from the file alone).",
    )
    jo.add_argument("--clear", action="store_true", help="remove every operation (after folding them in)")
    return parser


def _journal(args: argparse.Namespace, settings) -> int:
    from core.journal import ProductJournal, journal_path

    journal = ProductJournal(journal_path(settings.index_dir, settings.collection))
    entries = journal.entries()
    upserts = sum(e.op == "upsert" for e in entries)
    print(
        json.dumps(
            {
                "path": str(journal.path),
                "operations": len(entries),
                "upserts": upserts,
                "deletes": len(entries) - upserts,
                "seq": journal.seq(),
            }
        )
    )
    if args.clear:
        print(f"cleared {journal.clear()} operations from {journal.path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from core.settings import settings_error_message

    try:
        args = _parser().parse_args(argv)
    except ValidationError as exc:
        print(f"error: {settings_error_message(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "journal":
        return _journal(args, get_settings())
    settings = get_settings().model_copy(update={"model": args.model})
    if not args.catalogue.exists():
        print(f"error: catalogue {args.catalogue} not found (pass --catalogue PATH)", file=sys.stderr)
        return EXIT_BAD_INPUT

    from indexer.control import LOCK_FD_ENV, ReindexBusy, ReindexLock, ReindexPaths, StatusWriter

    paths = ReindexPaths.of(settings)
    lock = ReindexLock(paths.lock)
    info = {"catalogue": str(args.catalogue), "full": args.full}
    try:
        if inherited := os.environ.get(LOCK_FD_ENV):
            lock.adopt(int(inherited), **info)
        else:
            lock.acquire(**info)
    except ReindexBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY

    from model.loader import load_errors

    with lock:
        status = StatusWriter(paths.status, catalogue=str(args.catalogue), full=args.full, model=args.model)
        try:
            summary = _run(args, settings, status)
        except SystemExit as exc:  # the job's own, already explained, refusals
            status.finish("failed", error=str(exc.code))
            raise
        except load_errors() as exc:
            status.finish("failed", error=str(exc))
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except BaseException as exc:
            status.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        status.finish("succeeded", summary=summary.as_dict())
    print(summary)
    if args.json:
        args.json.write_text(json.dumps(summary.as_dict(), indent=2))
    return 0


def _run(args: argparse.Namespace, settings, status):
    from core.journal import ProductJournal, journal_path
    from core.store import open_store
    from indexer.job import reindex
    from model.loader import load_encoder

    # the indexer encodes passages only: no int8 query graph and no query tower to build or hold
    encoder = load_encoder(settings.model_copy(update={"query_precision": "fp32", "query_tower": "full"}))
    query_key = hashlib.sha256(getattr(encoder, "query_signature", "").encode()).hexdigest()[:8]
    store = open_store(settings)
    try:
        return reindex(
            args.catalogue,
            encoder,
            store,
            batch_size=args.batch_size,
            if_stale=args.if_stale,
            full=args.full,
            progress=not args.no_progress,
            on_batch=status.progress,
            vocabulary=settings.catalogue_vocabulary,
            term_cache=settings.model_cache_dir / "vocabulary-terms" / f"{encoder.fingerprint}-{query_key}.npz",
            journal=None if args.no_journal else ProductJournal(journal_path(settings.index_dir, settings.collection)),
        )
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
