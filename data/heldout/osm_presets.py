"""Held-out short category phrases (English<TAB>xx) from OpenStreetMap's iD tagging schema, for
``python -m model.evaluation pairs``.

openstreetmap/id-tagging-schema (ISC licence) ships the preset names of map features ("Shoe Store",
"Electronics Store", "Bakery", "Cafe") translated by people on Transifex, in ``dist/translations/LANG.json``.
A preset named in English and in the language gives one pair. Shop and amenity names are the closest public,
human-translated relative of a catalogue's category names. A language with fewer than ``--min-pairs`` named
presets is left out (Tagalog/Filipino has about 14). Nothing in the project is trained or tuned on them.

    python -m data.heldout.osm_presets --schema /work/.mirror/openstreetmap+id-tagging-schema/repo \
        --out var/heldout/osm_presets
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from pathlib import Path

from data.heldout.common import distinct_pairs, git, write_pairs, write_sources

LANGS = {"vi": "vi", "th": "th", "id": "id", "ms": "ms", "tl": "tl", "ur": "ur", "bn": "bn"}


def preset_names(repo: Path, commit: str, locale: str) -> dict[str, str]:
    """``{preset id: name}`` of one locale's translation file ({} when the locale has none)."""
    try:
        data = json.loads(git(repo, "show", f"{commit}:dist/translations/{locale}.json"))
    except subprocess.CalledProcessError:
        return {}
    presets = data.get(locale, {}).get("presets", {}).get("presets", {})
    return {k: v["name"].strip() for k, v in presets.items() if isinstance(v, dict) and v.get("name", "").strip()}


def build(repo: Path, commit: str, out: Path, min_pairs: int) -> dict[str, int]:
    english = preset_names(repo, commit, "en")
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for lang, locale in LANGS.items():
        native = preset_names(repo, commit, locale)
        keys = sorted(native, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
        pairs = distinct_pairs((english[k], native[k]) for k in keys if english.get(k))
        if len(pairs) >= min_pairs:
            counts[lang] = write_pairs(out / f"{lang}.tsv", pairs)
    sources = {
        "source": "https://github.com/openstreetmap/id-tagging-schema",
        "commit": commit,
        "file": "dist/translations/LANG.json (presets.presets.*.name)",
        "licence": "ISC",
        "counts": counts,
    }
    write_sources(out, sources)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--schema", type=Path, required=True, help="git directory of an id-tagging-schema mirror")
    p.add_argument("--commit", default="HEAD")
    p.add_argument("--out", type=Path, default=Path("var/heldout/osm_presets"))
    p.add_argument("--min-pairs", type=int, default=50)
    args = p.parse_args(argv)
    commit = git(args.schema, "rev-parse", args.commit).strip()
    print(json.dumps(build(args.schema, commit, args.out, args.min_pairs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
