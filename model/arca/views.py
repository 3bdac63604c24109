"""The Arca "agents": cheap views of one text that the shared student encodes and the composer weighs.

Shoppers type the same intent as native script, without diacritics, romanised, with typos or half in English.
Each view removes one of those gaps before the encoder sees the text: ``norm`` folds case and Latin diacritics,
``roman`` transliterates Thai / Arabic-script Urdu / Bengali into Latin, ``gloss`` swaps catalogue terms for
their English names (the cheap stand-in for the paper's translate-then-encode path). Identical views are
dropped, so clean lowercase English costs one encoder pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from core.text import (
    ENGLISH_STOPWORDS,
    SCRIPTS,
    SPACES,
    deletions,
    fold,
    guess_language,
    lower,
    romanise,
    script_of,
    split_words,
    within_one_edit,
)

VIEW_TYPES: tuple[str, ...] = ("raw", "norm", "roman", "gloss")

TYPO_MIN_LEN = 5  # shorter words have too many one-edit neighbours to correct safely


@dataclass(frozen=True)
class Gloss:
    text: str
    coverage: float  # fraction of the text's characters that were replaced by English terms


class Glosser:
    """Greedy longest n-gram lexicon match (typo-tolerant on long words) that rewrites terms into English.

    Text typed with diacritics is matched against the native spellings only ("khoa học" is science, not
    "khóa" = lock); text typed without them against the plain/romanised spellings, where one typo is allowed
    on words of 5+ letters. Thai has no spaces, so Thai runs are matched by longest substring. When the
    language is unknown, keys made only of English words are left alone (vi_plain "in" = inch, "do" = red).
    """

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """``entries``: (language, term, english) for every spelling; ``en`` entries only teach English words."""
        self.exact: dict[str, dict[str, str]] = defaultdict(dict)
        self.plain: dict[str, dict[str, str]] = defaultdict(dict)
        self.english_words = set(ENGLISH_STOPWORDS)
        for lang, term, english in entries:
            en = fold(english)
            if lang == "en":
                self.english_words.update(split_words(fold(term)) + split_words(en))
                continue
            exact, plain = lower(term), fold(term)
            if en and plain != en:
                self.plain[plain].setdefault(lang, en)
                if exact != plain:  # spellings with Latin diacritics; everything else is matched as plain
                    self.exact[exact].setdefault(lang, en)
        self.max_ngram = max((len(k.split()) for k in (*self.exact, *self.plain)), default=1)
        self.thai_keys = {k.replace(" ", ""): k for k in self.plain if script_of(k) == "thai"}
        self.max_thai = max(map(len, self.thai_keys), default=0)
        self.vocab = {w for k in self.plain for w in k.split() if script_of(w) != "thai"}
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        for word in self.vocab:
            if len(word) >= TYPO_MIN_LEN:
                for variant in deletions(word) | {word}:
                    self.neighbours[variant].add(word)

    def english_share(self, text: str) -> float:
        """Fraction of tokens that are English words: the cheap language-id signal for Latin text."""
        tokens = split_words(fold(text))
        return sum(t in self.english_words for t in tokens) / len(tokens) if tokens else 0.0

    def correct(self, word: str) -> str:
        """The plain lexicon word one edit away from ``word`` (deterministic on ties), else ``word`` itself."""
        if word in self.vocab or word in self.english_words or len(word) < TYPO_MIN_LEN:
            return word
        candidates: set[str] = set()
        for variant in deletions(word) | {word}:
            candidates |= self.neighbours.get(variant, set())
        matches = sorted(c for c in candidates if within_one_edit(word, c))
        return matches[0] if matches else word

    @staticmethod
    def _pick(options: dict[str, str], language: str | None) -> str:
        return options.get(language or "", next(iter(options.values())))

    def _lookup(self, tokens: list[str], plain_words: list[str | None], language: str | None) -> str | None:
        """English for one n-gram: exact native spelling first, plain spelling when typed without diacritics."""
        if language is None and all(t in self.english_words for t in tokens):
            return None
        options = self.exact.get(" ".join(tokens))
        if options is None and None not in plain_words:
            options = self.plain.get(" ".join(w for w in plain_words if w))
        return None if options is None else self._pick(options, language)

    def _thai_segments(self, run: str, language: str | None) -> list[tuple[str, str | None]]:
        """Longest lexicon substring at each position of a Thai run; unmatched characters pass through."""
        segments: list[tuple[str, str | None]] = []
        i, pending = 0, ""
        while i < len(run):
            for n in range(min(self.max_thai, len(run) - i), 0, -1):
                key = self.thai_keys.get(run[i : i + n])
                if key is not None:
                    if pending:
                        segments.append((pending, None))
                        pending = ""
                    segments.append((run[i : i + n], self._pick(self.plain[key], language)))
                    i += n
                    break
            else:
                pending += run[i]
                i += 1
        if pending:
            segments.append((pending, None))
        return segments

    def segments(self, text: str, language: str | None = None) -> list[tuple[str, str | None]]:
        """(piece of the lower-cased text, its English term or None), in order."""
        tokens = split_words(lower(text))
        if language == "en":
            return [(t, None) for t in tokens]
        # a text typed without any diacritic may also match plain spellings (after typo correction); one typed
        # with them spells its words out, so a bare "khoa" there is "khoa học" (science), not "khóa" (lock)
        typed_plain = all(fold(t) == t for t in tokens)
        plain = [self.correct(t) if typed_plain and script_of(t) != "thai" else None for t in tokens]
        out: list[tuple[str, str | None]] = []
        i = 0
        while i < len(tokens):
            if script_of(tokens[i]) == "thai" and self.max_thai:
                out += self._thai_segments(tokens[i], language)
                i += 1
                continue
            for n in range(min(self.max_ngram, len(tokens) - i), 0, -1):
                english = self._lookup(tokens[i : i + n], plain[i : i + n], language)
                if english is not None:
                    out.append((" ".join(tokens[i : i + n]), english))
                    i += n
                    break
            else:
                out.append((tokens[i], None))
                i += 1
        return out

    def gloss(self, text: str, language: str | None = None) -> Gloss | None:
        """English-glossed rewrite of ``text``; None when no lexicon term matches."""
        segments = self.segments(text, language)
        matched = sum(len(piece.replace(" ", "")) for piece, en in segments if en is not None)
        if not matched:
            return None
        total = sum(len(piece.replace(" ", "")) for piece, _ in segments)
        return Gloss(" ".join(piece if en is None else en for piece, en in segments), matched / total)


@dataclass(frozen=True)
class TextViews:
    """The distinct views of one text plus the text-level facts the composer's critic features need."""

    texts: tuple[str, ...]
    types: tuple[int, ...]  # indices into VIEW_TYPES, parallel to ``texts``
    script: int  # index into SCRIPTS
    language: str | None  # given, or guessed from the script; None when unknown
    coverage: float  # gloss coverage (0 without a gloss view)
    english_share: float  # fraction of tokens that are English words


class ViewBuilder:
    """Builds the deduplicated views of a text; cached because queries and training texts repeat."""

    def __init__(self, glosser: Glosser | None, enabled: Iterable[str] = VIEW_TYPES, cache_size: int = 65536) -> None:
        self.glosser = glosser
        self.enabled = frozenset(enabled)
        unknown = self.enabled - set(VIEW_TYPES)
        if unknown:
            raise ValueError(f"unknown view types {sorted(unknown)}; expected some of {VIEW_TYPES}")
        self.build = lru_cache(maxsize=cache_size)(self._build)

    def _build(self, text: str, language: str | None = None) -> TextViews:
        raw = SPACES.sub(" ", text).strip()
        language = language or guess_language(raw)
        candidates: list[tuple[str, str | None]] = [("raw", raw)]
        norm = fold(raw)
        candidates.append(("norm", norm))
        if "roman" in self.enabled:
            candidates.append(("roman", romanise(raw)))
        coverage, english_share = 0.0, 0.0
        if self.glosser is not None:
            english_share = self.glosser.english_share(raw)
        if "gloss" in self.enabled and self.glosser is not None:
            gloss = self.glosser.gloss(raw, language)
            if gloss is not None:
                candidates.append(("gloss", gloss.text))
                coverage = gloss.coverage
        texts, types = [raw], [VIEW_TYPES.index("raw")]
        for kind, view in candidates[1:]:
            if view and kind in self.enabled and view not in texts:
                texts.append(view)
                types.append(VIEW_TYPES.index(kind))
        script = SCRIPTS.index(script_of(raw))
        return TextViews(tuple(texts), tuple(types), script, language, coverage, english_share)
