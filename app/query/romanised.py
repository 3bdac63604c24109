"""Romanised Thai, Urdu and Bengali words matched to the native-script terms a catalogue is written in.

Shoppers type Thai, Urdu and Bengali in Latin letters in many ways: "kafae", "kaafe" and "kaaef" for กาแฟ; "sabun",
"sbn" for صابن; "kofi", "kphi" for কফি. They differ most in the vowels (Roman Urdu leaves them out, as the script
does), in aspiration and voicing ("kh"/"k", "ph"/"f", "d"/"t"), and in where a Thai vowel written before its consonant
goes. A word's *consonant key* keeps what is left: its consonants in order, each reduced to one class, with vowels,
semivowels and "h" dropped and doubled letters collapsed. A native term gets two keys — one of its romanisation
(``core.text.romanise``: pythainlp's royin, uroman) and one read letter by letter from the script itself, each
consonant named by its Unicode name (ส "SO SUA" → s) — so a writer who spells the sounds and one who spells the
letters both reach it. A query word is looked up by its key, or within one edit of it when the key is long enough,
and the closest spelling wins.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from difflib import SequenceMatcher
from functools import lru_cache

from core.text import deletions, fold, within_one_edit

_DIGRAPHS = (
    ("tch", "c"),
    ("chh", "c"),
    ("ch", "c"),
    ("sh", "s"),
    ("kh", "k"),
    ("gh", "k"),
    ("ph", "p"),
    ("th", "t"),
    ("dh", "t"),
    ("bh", "b"),
    ("jh", "j"),
    ("zh", "j"),
    ("ng", "n"),
)
_CLASSES = str.maketrans({"q": "k", "g": "k", "x": "k", "f": "p", "v": "w", "d": "t", "z": "j"})
_DROPPED = str.maketrans("", "", "aeiouywh")
_QUALIFIERS = frozenset({"FARSI", "KASHMIRI", "DOTLESS", "SWASH", "HIGH", "SMALL"})  # "FARSI YEH" is a YEH
MIN_KEY = 2  # consonants a key needs at least (one consonant names too many words)
MIN_FUZZY_KEY = 4  # a key this long may match within one edit
MIN_SIMILARITY = 0.5  # a match's spelling must be at least this close to the typed word (difflib ratio)


def latin_key(text: str) -> str:
    """The consonant key of Latin text, spaces and marks ignored: "kafae", "kaaef" → "kp"; "sabun", "sbn" → "sbn";
    "chudwaynam", "chut wai nam" → "ctnm"."""
    s = "".join(ch for ch in fold(text).lower() if "a" <= ch <= "z")
    for digraph, cls in _DIGRAPHS:
        s = s.replace(digraph, cls)
    s = s.translate(_CLASSES).translate(_DROPPED)
    return "".join(c for i, c in enumerate(s) if i == 0 or c != s[i - 1])


@lru_cache(maxsize=4096)
def _letter_value(ch: str) -> str:
    """The Latin consonant a Thai, Arabic-script or Bengali letter names ("SO SUA" → "s", "KHAH" → "kh",
    "BENGALI LETTER KA" → "k"); "" for vowels, vowel signs, tone marks and anything else."""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return ""
    if name == "THAI CHARACTER SARA AM":  # the vowel ends in m
        return "m"
    for prefix in ("THAI CHARACTER ", "ARABIC LETTER ", "BENGALI LETTER "):
        if name.startswith(prefix):
            words = [w for w in name[len(prefix) :].split() if w not in _QUALIFIERS]
            if not words:
                return ""
            word = words[0]
            if word in ("SARA", "MAI", "LAKKHANGYAO", "THANTHAKHAT", "NIKHAHIT", "YAMAKKAN", "PAIYANNOI"):
                return ""
            out = ""
            for c in word.lower():
                if c in "aeiou":
                    break
                out += c
            return out
    return ""


def letter_spelling(term: str) -> str:
    """``term``'s consonant letters in Latin, in written order ("เสาวรส" → "swrs")."""
    return "".join(_letter_value(ch) for ch in term)


class RomanisedIndex:
    """Native-script terms of one language by consonant key; ``match`` finds the term a romanised word stands for."""

    def __init__(self) -> None:
        self._by_key: dict[str, set[int]] = defaultdict(set)
        self._by_deletion: dict[str, set[int]] = defaultdict(set)
        self._entries: list[tuple[str, str, str]] = []  # (target, Latin spelling, its key)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, target: str, spelling: str) -> None:
        """``spelling`` (Latin) leads to ``target`` (what a match returns: a canonical name or the native term)."""
        key = latin_key(spelling)
        if len(key) < MIN_KEY:
            return
        self._entries.append((target, fold(spelling).lower().replace(" ", ""), key))
        i = len(self._entries) - 1
        self._by_key[key].add(i)
        if len(key) >= MIN_FUZZY_KEY:
            for d in deletions(key):
                self._by_deletion[d].add(i)

    def add_native(self, target: str, term: str) -> None:
        """A native-script ``term``, by its letters (its romanised spellings go in by ``add``)."""
        if spelling := letter_spelling(term):
            self.add(target, spelling)

    def match(self, typed: str) -> str | None:
        """The target whose spelling is nearest ``typed`` among those with its consonant key (or, for a key of
        ``MIN_FUZZY_KEY`` consonants or more, one edit from it); None without one at ``MIN_SIMILARITY``."""
        key = latin_key(typed)
        if len(key) < MIN_KEY:
            return None
        found = set(self._by_key.get(key, ()))
        if len(key) >= MIN_FUZZY_KEY:
            for d in (key, *deletions(key)):
                found.update(i for i in self._by_deletion.get(d, ()) if within_one_edit(key, self._entries[i][2]))
            found.update(i for d in deletions(key) for i in self._by_key.get(d, ()))
        if not found:
            return None
        word = fold(typed).lower().replace(" ", "")
        best, best_score = None, MIN_SIMILARITY
        for i in sorted(found):
            target, spelling, _ = self._entries[i]
            score = SequenceMatcher(None, word, spelling).ratio()
            if score > best_score:
                best, best_score = target, score
        return best
