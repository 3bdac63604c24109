"""Noisy variants of a training text: how real shoppers type the same thing.

Each variant is anchored to the same English target as the clean text and pulled towards its embedding
(the consistency terms), so typos, missing diacritics, romanisation, code-mixing and translation all land
on the same point.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence

from core.text import fold, romanise
from model.arca.views import Glosser
from model.training.arca.data import Pair

NOISE_KINDS: tuple[str, ...] = ("typo", "no_diacritics", "romanised", "typed", "code_mixed", "translation")


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip (drop, double, swap or replace a letter) in a word of at least 3 letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    op = rng.choice(("drop", "double", "swap", "replace"))
    if op == "drop":
        w = w[:j] + w[j + 1 :]
    elif op == "double":
        w = w[:j] + w[j] + w[j:]
    elif op == "swap":
        w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
    else:
        w = w[:j] + rng.choice(string.ascii_lowercase if w.isascii() else w) + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def code_mixed(text: str, language: str, glosser: Glosser, rng: random.Random) -> str | None:
    """Some (not all) lexicon terms swapped for their English names, as in "giay the thao nike size 40"."""
    segments = glosser.segments(text, language)
    matched = [i for i, (_, en) in enumerate(segments) if en is not None]
    if not matched:
        return None
    keep = set(rng.sample(matched, rng.randint(1, len(matched))))
    return " ".join(en if i in keep and en else piece for i, (piece, en) in enumerate(segments))


def make_variant(
    pair: Pair, rng: random.Random, glosser: Glosser, translations: Mapping[str, Sequence[Pair]]
) -> tuple[str, str] | None:
    """(noise kind, variant text) differing from ``pair.text``; None when no kind applies."""
    makers: dict[str, Callable[[], str | None]] = {
        "typo": lambda: typo(fold(pair.text) if rng.random() < 0.5 else pair.text, rng),
        "no_diacritics": lambda: fold(pair.text),
        "romanised": lambda: romanise(pair.text),
        "typed": lambda: pair.typed,
        "code_mixed": lambda: code_mixed(pair.text, pair.language, glosser, rng),
        "translation": lambda: _translation(pair, translations, rng),
    }
    kinds = list(NOISE_KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        text = makers[kind]()
        if text and text != pair.text:
            return kind, text
    return None


def _translation(pair: Pair, translations: Mapping[str, Sequence[Pair]], rng: random.Random) -> str | None:
    others = [p.text for p in translations.get(pair.english, ()) if p.language != pair.language]
    return rng.choice(others) if others else None
