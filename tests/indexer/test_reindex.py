"""The reindex job: bad rows reported and skipped, up-to-date index reused, a killed run harms nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from core.catalogue import Product, read_catalogue
from core.settings import REPO_ROOT
from core.store import open_store
from indexer.job import reindex
from tests.indexer.helpers import CountingEncoder

_PROGRESS = re.compile(rb"indexing: +\d+%\|[^|]*\| *[1-9]\d*/\d+")


def _good_row(i: int, **over) -> dict:
    row = {
        "id": f"t-{i}",
        "language": "id",
        "title": f"Sepatu Lari Pria Hitam {i}",
        "description": "Sepatu ringan.",
        "category": "Shoes > Sports Shoes > Running Shoes",
        "brand": "Adidas",
        "price": 350000 + i,
        "currency": "IDR",
        "attributes": {"colour": "black"},
    }
    return {**row, **over}


@pytest.fixture()
def messy_catalogue(tmp_path):
    lines = [
        json.dumps(_good_row(1)).encode(),
        b'{"id": "t-2", "language": "id", "title": "Tas',  # truncated JSON
        json.dumps(_good_row(3)).encode(),
        '{"id": "t-4", "title": "caf\xe9"}'.encode("latin-1"),  # wrong encoding
        json.dumps(_good_row(1, title="Duplicate id")).encode(),
        json.dumps(_good_row(6, price=-5)).encode(),
        json.dumps(_good_row(7, title="x" * 1_000_000)).encode(),
        json.dumps(_good_row(8, language="fr")).encode(),
        b"[1, 2, 3]",
        b"",
        json.dumps(_good_row(11)).encode(),
    ]
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_rows_are_reported_with_line_numbers_and_skipped(messy_catalogue):
    report = read_catalogue(messy_catalogue)
    assert [p.id for p in report.products] == ["t-1", "t-3", "t-11"]
    by_line = {e.line: e.message for e in report.errors}
    assert set(by_line) == {2, 4, 5, 6, 7, 8, 9}
    assert "invalid JSON" in by_line[2]
    assert "UTF-8" in by_line[4]
    assert "duplicate id 't-1'" in by_line[5] and "line 1" in by_line[5]
    assert "price" in by_line[6]
    assert "title" in by_line[7]
    assert "unknown language 'fr'" in by_line[8]
    assert "JSON object" in by_line[9]


def test_reindex_indexes_the_good_rows(messy_catalogue, encoder, tmp_path, capsys, indexed_settings):
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    store = open_store(settings)
    try:
        summary = reindex(messy_catalogue, encoder, store, progress=False)
        assert (summary.indexed, summary.skipped) == (3, 7)
        assert store.count() == 3
        err = capsys.readouterr().err
        assert "catalogue line 2: invalid JSON" in err and "catalogue line 6:" in err
        for line in (2, 4, 5, 6, 7, 8, 9):
            assert f"skipped catalogue line {line}: " in err, f"line {line} not reported"
        kept = store.retrieve(["t-1", "t-3", "t-11"])
        assert [p.payload["title"] for p in kept] == [f"Sepatu Lari Pria Hitam {i}" for i in (1, 3, 11)], (
            "the first of two duplicate ids is kept, nothing of the good rows is lost"
        )

        again = reindex(messy_catalogue, encoder, store, progress=False, if_stale=True)
        assert again.up_to_date and again.version == summary.version
        rebuilt = reindex(messy_catalogue, encoder, store, progress=False)
        assert rebuilt.version != summary.version and store.count() == 3
    finally:
        store.close()


def test_reindex_takes_a_csv_catalogue(encoder, tmp_path, indexed_settings):
    import csv

    path = tmp_path / "catalogue.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["id", "language", "title", "description", "category", "brand", "price", "currency", "attributes.colour"]
        )
        for i in (1, 2, 3):
            r = _good_row(i)
            writer.writerow(
                [
                    r["id"],
                    r["language"],
                    r["title"],
                    r["description"],
                    r["category"],
                    r["brand"],
                    r["price"],
                    r["currency"],
                    "black",
                ]
            )
        writer.writerow(["t-4", "id", "Tas", "", "Bags", "", "gratis", "IDR", ""])  # line 5: bad price
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    store = open_store(settings)
    try:
        summary = reindex(path, encoder, store, progress=False)
        assert (summary.indexed, summary.skipped) == (3, 1)
        [kept] = store.retrieve(["t-2"])
        assert kept.payload["attributes"] == {"colour": "black"} and kept.payload["price"] == 350002
        query = encoder.encode(["sepatu lari hitam"], kind="query")[0]
        assert {h.id for h in store.search(query, 3)} == {"t-1", "t-2", "t-3"}
    finally:
        store.close()


def test_cli_help():
    out = subprocess.run(
        [sys.executable, "-m", "indexer", "reindex", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--catalogue" in out and "--if-stale" in out


def test_cli_rejects_missing_catalogue(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "indexer", "reindex", "--catalogue", str(tmp_path / "nope.jsonl")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "not found" in r.stderr


def test_killed_reindex_leaves_the_previous_version_serving(indexed_settings, subset_catalogue, encoder, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(indexed_settings.index_dir, index_dir)
    settings = indexed_settings.model_copy(update={"index_dir": index_dir})
    reader = open_store(settings, read_only=True)
    old = reader.current_version()
    probe = encoder.encode(["sepatu lari"], kind="query")[0]
    before = [h.id for h in reader.search(probe, 5)]

    bigger = tmp_path / "bigger.jsonl"
    bigger.write_text(subset_catalogue.read_text(encoding="utf-8"), encoding="utf-8")
    env = {**os.environ, "LIRA_INDEX_DIR": str(index_dir), "LIRA_STORE": "edge", "LIRA_BATCH_SIZE": "16"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "indexer", "reindex", "--catalogue", str(bigger)],
        cwd=REPO_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    seen = bytearray()
    reader_thread = threading.Thread(
        target=lambda: [seen.extend(c) for c in iter(lambda: proc.stderr.read(64), b"")], daemon=True
    )
    reader_thread.start()
    deadline = time.monotonic() + 120
    while not _PROGRESS.search(bytes(seen)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"reindex finished before it could be killed: {seen.decode(errors='replace')}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert reader.current_version() == old
    assert [h.id for h in reader.search(probe, 5)] == before
    assert len(reader.list_versions()) >= 2, "the killed run should have left its partial version behind"
    reader.close()

    writer = open_store(settings)
    try:
        summary = reindex(subset_catalogue, encoder, writer, progress=False)
        versions = [str(v) for v in writer.list_versions()]
        assert summary.version in versions and all(v <= summary.version for v in versions)
        assert writer.current_version() is not None and str(writer.current_version()) == summary.version
        result = writer.search(probe, 5)
        assert len(result) == 5 and np.isfinite([h.score for h in result]).all()
    finally:
        writer.close()


# ---- incremental reindex ---------------------------------------------------------------------------------------


def _write(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_incremental_reindex_reencodes_only_changed_products(encoder, tmp_path, indexed_settings, capsys):
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    rows = [_good_row(i) for i in range(1, 13)]
    catalogue = tmp_path / "products.jsonl"
    _write(catalogue, rows)
    counting = CountingEncoder(encoder)
    store = open_store(settings)
    try:
        first = reindex(catalogue, counting, store, progress=False, batch_size=5)
        assert (first.reencoded, first.reused, first.deleted, first.incremental) == (12, 0, 0, False)
        before = {p.id: p for p in store.retrieve([r["id"] for r in rows])}

        rows[0]["title"] = "Sepatu Lari Wanita Putih"  # text changed: re-encode
        rows[1]["description"] = "Sepatu sangat ringan."  # text changed: re-encode
        rows[2]["price"] = 1.0  # payload only: reuse the vector, rewrite the payload
        del rows[9:12]  # deleted: not copied
        rows += [_good_row(20), _good_row(21)]  # new: encode
        _write(catalogue, rows)
        counting.texts.clear()
        second = reindex(catalogue, counting, store, progress=False, batch_size=5)
        assert (second.reencoded, second.reused, second.deleted, second.incremental) == (4, 7, 3, True)
        assert sorted(counting.texts) == sorted(
            Product.model_validate(r).passage_text() for r in (rows[0], rows[1], rows[-2], rows[-1])
        )
        assert "re-encoded 4, reused 7, deleted 3" in str(second)
        assert store.count() == 11
        after = {p.id: p for p in store.retrieve([r["id"] for r in rows] + ["t-10", "t-11", "t-12"])}
        assert set(after) == {r["id"] for r in rows}
        np.testing.assert_array_equal(after["t-3"].vector, before["t-3"].vector)
        assert after["t-3"].payload["price"] == 1.0
        assert not np.allclose(after["t-1"].vector, before["t-1"].vector)
        query = encoder.encode(["Sepatu Lari Wanita Putih"], kind="query")[0]
        assert store.search(query, 1)[0].id == "t-1"

        counting.texts.clear()
        full = reindex(catalogue, counting, store, progress=False, full=True)
        assert (full.reencoded, full.reused, full.deleted, full.incremental) == (11, 0, 0, False)
        assert len(counting.texts) == 11
    finally:
        store.close()


def test_a_model_change_reencodes_everything(encoder, tmp_path, indexed_settings):
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    catalogue = tmp_path / "products.jsonl"
    _write(catalogue, [_good_row(i) for i in range(1, 5)])
    store = open_store(settings)
    try:
        reindex(catalogue, encoder, store, progress=False)
        other = CountingEncoder(encoder)
        other.fingerprint = "0123456789ab"  # another model: vectors must never be mixed
        summary = reindex(catalogue, other, store, progress=False)
        assert (summary.reencoded, summary.reused, summary.incremental) == (4, 0, False)
        assert len(other.texts) == 4
    finally:
        store.close()


def test_cli_refuses_a_second_reindex_and_names_the_first(tmp_path, subset_catalogue):
    from core.settings import Settings
    from indexer.control import ReindexLock, ReindexPaths

    settings = Settings(_env_file=None, index_dir=tmp_path / "index")
    env = {**os.environ, "LIRA_INDEX_DIR": str(settings.index_dir), "LIRA_STORE": "edge"}
    with ReindexLock(ReindexPaths.of(settings).lock) as lock:
        lock.acquire(full=False)
        r = subprocess.run(
            [sys.executable, "-m", "indexer", "reindex", "--catalogue", str(subset_catalogue)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 3, r.stderr
    assert f"a reindex is already running (pid {os.getpid()}, started " in r.stderr
    assert "Traceback" not in r.stderr


def test_incremental_reindex_with_one_kept_version(encoder, tmp_path, indexed_settings):
    """With keep_versions=1 the version the run copied from is dropped at the switch, while the run holds it open."""
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index", "keep_versions": 1})
    catalogue = tmp_path / "products.jsonl"
    _write(catalogue, [_good_row(i) for i in range(1, 5)])
    store = open_store(settings)
    try:
        reindex(catalogue, encoder, store, progress=False)
        again = reindex(catalogue, encoder, store, progress=False)
        assert (again.reused, again.reencoded) == (4, 0)
        assert store.list_versions() == [store.current_version()] and store.count() == 4
    finally:
        store.close()


def test_chunked_encoding_writes_every_product_with_its_own_vector(encoder, tmp_path, indexed_settings, monkeypatch):
    """Several chunks, sorted by text length and encoded one ahead of the writes: every product lands once, with the
    vector the encoder gives its text, and progress counts up to the catalogue's size."""
    import indexer.job

    monkeypatch.setattr(indexer.job, "ENCODE_CHUNK", 4)
    settings = indexed_settings.model_copy(update={"index_dir": tmp_path / "index"})
    rows = [_good_row(i, title="Sepatu " + "lari " * (i % 5) + f"model {i}") for i in range(1, 12)]
    catalogue = tmp_path / "products.jsonl"
    _write(catalogue, rows)
    counting = CountingEncoder(encoder)
    seen: list[int] = []
    store = open_store(settings)
    try:
        summary = reindex(
            catalogue,
            counting,
            store,
            progress=False,
            batch_size=2,
            vocabulary=False,
            on_batch=lambda done, total: seen.append(done),
        )
        assert summary.reencoded == 11 and store.count() == 11
        assert sorted(counting.texts) == sorted(Product.model_validate(r).passage_text() for r in rows)
        assert seen == sorted(seen) and seen[-1] == 11
        points = {p.id: p for p in store.retrieve([r["id"] for r in rows])}
        texts = [Product.model_validate(r).passage_text() for r in rows]
        expected = encoder.encode(texts, kind="passage")
        for r, v in zip(rows, expected, strict=True):
            assert float(points[r["id"]].vector @ v) > 0.999
    finally:
        store.close()
