"""Pseudo-queries from a catalogue's own fields: the signal a deployment has before any shopper has searched.

    python -m model.training.lasr.pseudo --catalogue CATALOGUE.jsonl --out queries.pseudo.jsonl

Nothing here reads a lexicon, a query log or a judgement someone wrote: every query and every grade comes from the
listings (title, category path, brand). Per market (its own listings; the market's search space is those plus the
English ones, as the API searches a market), for a sample of its listings:

- ``title``: the listing's title as a shopper types it (lower-cased);
- ``fragment``: a run of one to three title words that is not only stop words, digits or sizes;
- ``category``: the leaf of the listing's category path (catalogues carry English paths: a cross-lingual query);
- ``brand_type``: the brand and the category leaf, where the listing has a brand;
- ``code_mixed``: a title fragment and the category leaf together, as shoppers mix their language with English.

Each query is then made noisy with probability ``noisy`` the way shoppers' queries are: diacritics stripped
(Latin-script languages), romanised (Thai, Urdu, Bengali) or one keyboard slip; it is judged as its clean form.

Grades, in the market's languages (its own and English):
- 2: the listing the query came from; a listing whose title holds every query word (``title``, ``fragment``,
  ``code_mixed``'s fragment); a listing under the query's category (``category``); the same brand under it
  (``brand_type``);
- 1: a listing in the source listing's leaf category (``category``: under its parent path).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from core.catalogue import Product
from core.text import ENGLISH_STOPWORDS, OWN_SCRIPT_LANGUAGES, fold, fold_token, lower, romanise, split_words, tokenize

PSEUDO_VERSION = 1
KINDS = ("title", "fragment", "category", "brand_type", "code_mixed")
_NEEDS_WORDS = ("fragment", "code_mixed")
_NOT_A_WORD = re.compile(r"^(?:\d+(?:[.,]\d+)?[a-z]{0,3}|[xsml]{1,3}|xxl|xxxl)$")  # 41, 500ml, 2.5kg, XL …
MAX_RELEVANT = 200  # grades kept per query (best first): more than a reranker's top 50 can hold


def _key_tokens(text: str) -> frozenset[str]:
    return frozenset(fold_token(t) for t in tokenize(fold(text)))


def _content(word: str) -> bool:
    w = fold(word)
    return bool(w) and w not in ENGLISH_STOPWORDS and not _NOT_A_WORD.match(w) and len(w) > 1


class _Catalogue:
    """The listings indexed for judging: title tokens, category paths and brands, by language."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.products = list(products)
        self.tokens = [_key_tokens(p.title) for p in self.products]
        self.by_token: dict[str, set[int]] = defaultdict(set)
        self.under: dict[str, set[int]] = defaultdict(set)  # category prefix path -> listings under it
        for i, p in enumerate(self.products):
            for t in self.tokens[i]:
                self.by_token[t].add(i)
            for prefix in p.category_prefixes():
                self.under[prefix].add(i)

    def titled(self, words: str) -> set[int]:
        """Listings whose title holds every word of ``words``."""
        keys = _key_tokens(words)
        if not keys:
            return set()
        sets = sorted((self.by_token.get(k, set()) for k in keys), key=len)
        out = set(sets[0])
        for s in sets[1:]:
            out &= s
        return out


def _grades(cat: _Catalogue, market: str, best: set[int], good: set[int], source: int) -> dict[str, int]:
    """Grade 2 for ``best`` and the source, 1 for ``good``, within the market's languages; at most MAX_RELEVANT."""
    langs = (market, "en")
    rows = sorted({source} | best, key=lambda i: (i != source, i))
    out: dict[str, int] = {}
    for i in rows:
        if cat.products[i].language in langs and len(out) < MAX_RELEVANT:
            out[cat.products[i].id] = 2
    for i in sorted(good - best - {source}):
        if cat.products[i].language in langs and len(out) < MAX_RELEVANT:
            out[cat.products[i].id] = 1
    return out


def _noisy(text: str, language: str, rng: random.Random) -> tuple[str, str] | None:
    from model.training.arca.noise import typo

    makers = []
    if language in OWN_SCRIPT_LANGUAGES:
        makers.append(("romanized", lambda: romanise(text)))
    else:
        makers.append(("no_diacritics", lambda: fold(text)))
    makers.append(("typo", lambda: typo(text, rng)))
    rng.shuffle(makers)
    for kind, make in makers:
        made = make()
        if made and made.casefold() != text.casefold():
            return kind, made
    return None


def pseudo_queries(
    products: Sequence[Product], per_language: int = 400, per_listing: int = 2, noisy: float = 0.4, seed: int = 13
) -> list[dict]:
    """Judged pseudo-queries (rows in the format of ``queries.<split>.jsonl``): ``per_listing`` kinds (drawn among
    those the listing has the fields for) for up to ``per_language`` listings of each non-English language in
    ``products``. English listings are judged, not queried: shoppers in these markets search in their language or
    in English category words, which ``category`` covers."""
    cat = _Catalogue(products)
    rng = random.Random(f"lira-pseudo-{seed}")
    by_language: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(cat.products):
        if p.language != "en":
            by_language[p.language].append(i)
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for market in sorted(by_language):
        sample = list(by_language[market])
        rng.shuffle(sample)
        for i in sample[:per_language]:
            p = cat.products[i]
            leaf_path = p.category
            parent_path = " > ".join(p.category.split(" > ")[:-1])
            leaf = p.category.split(" > ")[-1]
            siblings = cat.under[leaf_path]
            words = split_words(lower(p.title))
            content = [j for j, w in enumerate(words) if _content(w)]
            made: list[tuple[str, str, set[int], set[int]]] = []  # kind, text, grade 2, grade 1
            kinds = [k for k in KINDS if (k != "brand_type" or p.brand) and (k not in _NEEDS_WORDS or content)]
            for kind in rng.sample(kinds, min(per_listing, len(kinds))):
                if kind == "title":
                    made.append(("title", lower(p.title), cat.titled(p.title), siblings))
                elif kind in _NEEDS_WORDS:
                    start = rng.choice(content)
                    span = words[start : start + rng.choice((1, 2, 2, 3))]
                    while span and not _content(span[-1]):
                        span = span[:-1]
                    fragment = " ".join(span)
                    if kind == "fragment":
                        made.append(("fragment", fragment, cat.titled(fragment), siblings))
                    else:
                        named = cat.titled(fragment) & siblings
                        made.append(("code_mixed", f"{fragment} {lower(leaf)}", named, siblings))
                elif kind == "category":
                    made.append(("category", lower(leaf), siblings, cat.under[parent_path] if parent_path else set()))
                else:
                    same_brand = {j for j in siblings if cat.products[j].brand == p.brand}
                    made.append(("brand_type", f"{lower(p.brand)} {lower(leaf)}", same_brand, siblings))
            for name, text, best, good in made:
                noise = name
                if rng.random() < noisy and (changed := _noisy(text, market, rng)) is not None:
                    noise, text = f"{name}+{changed[0]}", changed[1]
                if not text.strip() or (market, text) in seen:
                    continue
                seen.add((market, text))
                rows.append(
                    {
                        "id": f"pseudo-{market}-{len(rows):05d}",
                        "text": text,
                        "language": market,
                        "noise": noise,
                        "relevant": _grades(cat, market, best, good, i),
                    }
                )
    return rows


def write_pseudo_queries(products: Sequence[Product], out: Path, **kwargs) -> int:
    rows = pseudo_queries(products, **kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(rows)


def main() -> None:
    from core.catalogue import read_catalogue

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalogue", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-language", type=int, default=400)
    p.add_argument("--per-listing", type=int, default=2)
    p.add_argument("--noisy", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=13)
    a = p.parse_args()
    products = read_catalogue(a.catalogue).products
    n = write_pseudo_queries(
        products, a.out, per_language=a.per_language, per_listing=a.per_listing, noisy=a.noisy, seed=a.seed
    )
    print(f"wrote {n} pseudo-queries for {len(products)} listings to {a.out}")


if __name__ == "__main__":
    main()
