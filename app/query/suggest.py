"""Search-box completions from the serving index: product-type phrases, brands and categories.

A catalogue has no query log to complete from on day one, so the completions come from its listings: the opening
phrases of titles (their first two to four words: "giày chạy bộ", "tai nghe bluetooth"), brand names and category
names, each with the number of listings behind it (its popularity). A typed prefix matches a completion's start or
the start of any of its words, compared folded (case and Latin diacritics dropped: "giay chay" finds "giày chạy
bộ") and, for Thai, Urdu and Bengali completions, also romanised ("hufang" finds "หูฟัง…").
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.text import OWN_SCRIPT_LANGUAGES, fold, lower, romanise, split_words

SUGGEST_FIELDS = ("title", "brand", "category", "language")
MAX_WORDS = 4
SCAN_LIMIT = 2000  # keys read per lookup at most: a one-letter prefix must not walk the whole index


@dataclass(frozen=True)
class Completion:
    text: str
    kind: str  # "product" | "brand" | "category"
    language: str | None  # None: brands and categories, shared by every market
    count: int


def _heads(words: Sequence[str]) -> list[str]:
    return [" ".join(words[:n]) for n in range(2, min(MAX_WORDS, len(words)) + 1)] or list(words[:1])


def _boilerplate(titles: Sequence[tuple[str, list[str], str]]) -> set[tuple[str, str]]:
    """(language, word) pairs that say nothing about the product ("chính hãng", "cash on delivery", "sale"): words
    found in the titles of at least half of the catalogue's top-level categories (and at least four of them).
    Titles lose them at their start before their opening phrases are taken."""
    tops_of: dict[tuple[str, str], set[str]] = {}
    all_tops: set[str] = set()
    for language, words, top in titles:
        all_tops.add(top)
        for w in set(words):
            tops_of.setdefault((language, w), set()).add(top)
    need = max(4, (len(all_tops) + 1) // 2)
    return {key for key, tops in tops_of.items() if len(tops) >= need}


class Suggester:
    def __init__(self, completions: Sequence[Completion]) -> None:
        self.completions = list(completions)
        self._folded = [fold(c.text) for c in self.completions]
        keyed: list[tuple[str, int]] = []
        for i, c in enumerate(self.completions):
            forms = {self._folded[i]}
            if c.language in OWN_SCRIPT_LANGUAGES and (rom := romanise(c.text)):
                forms.add(rom)
            for form in forms:
                words = form.split()
                keyed.extend((" ".join(words[j:]), i) for j in range(len(words)))
        keyed.sort()
        self._keys = [k for k, _ in keyed]
        self._ids = [i for _, i in keyed]

    @classmethod
    def from_payloads(cls, payloads: Iterable[dict], min_count: int = 1) -> Suggester:
        phrases: Counter[tuple[str, str]] = Counter()
        brands: Counter[str] = Counter()
        categories: Counter[str] = Counter()
        titles: list[tuple[str, list[str], str]] = []
        for p in payloads:
            path = str(p.get("category") or "")
            titles.append((str(p.get("language") or ""), split_words(lower(str(p.get("title") or ""))), path))
            if p.get("brand"):
                brands[str(p["brand"])] += 1
            if path:
                categories[path.split(" > ")[-1]] += 1
        skip = _boilerplate([(lang, words, path.split(" > ")[0]) for lang, words, path in titles])
        for language, words, _ in titles:
            start = 0
            while start < len(words) - 1 and (language, words[start]) in skip:
                start += 1
            for head in _heads(words[start:]):
                phrases[(head, language)] += 1
        completions = [Completion(t, "product", lang, n) for (t, lang), n in phrases.items() if n >= min_count]
        completions += [Completion(b, "brand", None, n) for b, n in brands.items()]
        completions += [Completion(c, "category", None, n) for c, n in categories.items()]
        return cls(completions)

    def __len__(self) -> int:
        return len(self.completions)

    def suggest(self, prefix: str, languages: Sequence[str] | None = None, k: int = 10) -> list[Completion]:
        """Up to ``k`` completions of ``prefix`` in ``languages`` (brands and categories in any), most listings
        first, shorter first on a tie; a completion equal to the prefix itself is left out."""
        typed = fold(prefix)
        if not typed:
            return []
        wanted = set(languages) if languages else None
        start = bisect.bisect_left(self._keys, typed)
        seen: set[int] = set()
        for pos in range(start, min(start + SCAN_LIMIT, len(self._keys))):
            if not self._keys[pos].startswith(typed):
                break
            seen.add(self._ids[pos])
        found = [
            self.completions[i]
            for i in seen
            if (wanted is None or self.completions[i].language is None or self.completions[i].language in wanted)
            and self._folded[i] != typed
        ]
        found.sort(key=lambda c: (-c.count, len(c.text), c.text))
        out: list[Completion] = []
        shown: set[str] = set()
        for c in found:
            if c.text.casefold() not in shown:  # one line per text: a phrase sold in two markets shows once
                shown.add(c.text.casefold())
                out.append(c)
            if len(out) == k:
                break
        return out
