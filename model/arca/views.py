"""The Arca "agents": cheap views of one text that the shared student encodes and the composer weighs.

Shoppers type the same intent as native script, without diacritics, romanised, with typos or half in English.
Each view removes one of those gaps before the encoder sees the text: ``norm`` folds case and Latin diacritics,
``roman`` transliterates Thai / Arabic-script Urdu / Bengali into Latin, ``gloss`` swaps catalogue terms for
their English names (the cheap stand-in for the paper's translate-then-encode path). Identical views are
dropped, so clean lowercase English costs one encoder pass.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

VIEW_TYPES: tuple[str, ...] = ("raw", "norm", "roman", "gloss")
SCRIPTS: tuple[str, ...] = ("latin", "thai", "arabic", "bengali", "other")

_EXTRA_FOLDS = str.maketrans({"đ": "d", "ð": "d", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ı": "i"})
_VI_LETTERS = set("ăâđêôơư" + "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
_RUN = re.compile(r"([\u0E00-\u0E7F]+|[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]+|[\u0980-\u09FF]+)")
_SPACES = re.compile(r"\s+")
_NFKC_SARA_AM = "\u0e4d\u0e32"  # NFKC splits Thai SARA AM; the romaniser and lexicon expect it whole
TYPO_MIN_LEN = 5  # shorter words have too many one-edit neighbours to correct safely


def script_of_char(ch: str) -> str:
    cp = ord(ch)
    if 0x0E00 <= cp <= 0x0E7F:
        return "thai"
    if 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F or 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF:
        return "arabic"
    if 0x0980 <= cp <= 0x09FF:
        return "bengali"
    if ch.isascii() or unicodedata.name(ch, "").startswith("LATIN"):
        return "latin"
    return "other"


def script_of(text: str) -> str:
    """Dominant script among the letters (Latin when there are none, e.g. digits only)."""
    counts: dict[str, int] = defaultdict(int)
    for ch in text:
        if ch.isalpha() or unicodedata.category(ch).startswith("M"):
            counts[script_of_char(ch)] += 1
    return max(counts, key=counts.__getitem__) if counts else "latin"


def lower(text: str) -> str:
    """NFKC + casefold with single spaces: what the tokenizer sees anyway, diacritics kept."""
    text = unicodedata.normalize("NFKC", text).casefold().replace(_NFKC_SARA_AM, "\u0e33")
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """``lower`` and strip diacritics from Latin letters only (Thai/Bengali vowel signs are letters)."""
    out: list[str] = []
    latin_base = False
    for ch in unicodedata.normalize("NFD", lower(text)):
        if unicodedata.category(ch) == "Mn":
            if latin_base:
                continue
        else:
            latin_base = ch.isascii() or script_of_char(ch) == "latin"
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_EXTRA_FOLDS)


def guess_language(text: str) -> str | None:
    """The language when the script gives it away (Thai, Urdu, Bengali, Vietnamese letters); else unknown."""
    script = script_of(text)
    if script in ("thai", "arabic", "bengali"):
        return {"thai": "th", "arabic": "ur", "bengali": "bn"}[script]
    lowered = text.casefold()
    return "vi" if any(ch in _VI_LETTERS for ch in lowered) else None


class _Romanisers:
    """Lazily loaded transliterators: uroman takes ~5 s to load its tables, so only pay when needed."""

    _lock = threading.Lock()
    _uroman = None

    @classmethod
    def uroman(cls):
        with cls._lock:
            if cls._uroman is None:
                import uroman

                cls._uroman = uroman.Uroman()
            return cls._uroman

    @staticmethod
    @lru_cache(maxsize=65536)
    def thai(run: str) -> str:
        from pythainlp.tokenize import word_tokenize
        from pythainlp.transliterate import romanize

        words = word_tokenize(run, engine="newmm", keep_whitespace=False)
        return " ".join(romanize(w, engine="royin") for w in words)

    @classmethod
    @lru_cache(maxsize=65536)
    def uroman_run(cls, run: str, lcode: str) -> str:
        return str(cls.uroman().romanize_string(run, lcode=lcode))


def warm_up_romanisers() -> None:
    """Load both romanisers now (service start-up) instead of on the first non-Latin query."""
    _Romanisers.uroman_run("اردو", "urd")
    _Romanisers.thai("ไทย")


def romaniser_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"pythainlp": version("pythainlp"), "uroman": version("uroman")}


def romanise(text: str) -> str | None:
    """Latin transliteration of the Thai / Arabic-script / Bengali runs of ``text``; None when it has none."""
    parts = _RUN.split(text)
    if len(parts) == 1:
        return None
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
            continue
        script = script_of_char(part[0])
        if script == "thai":
            rom = _Romanisers.thai(part)
        else:
            rom = _Romanisers.uroman_run(part, "urd" if script == "arabic" else "ben")
        out.append(f" {rom} ")
    # royin leaves the odd unmapped Thai mark behind; the view must be pure Latin
    return fold("".join(ch for ch in "".join(out) if script_of_char(ch) in ("latin", "other")))


def _tokens(text: str) -> list[str]:
    """Whitespace tokens with punctuation/symbols as separators (combining marks stay inside words)."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "PSZ" and ch not in "-&+" else ch for ch in text)
    return cleaned.split()


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _within_one_edit(a: str, b: str) -> bool:
    """Optimal-string-alignment distance ≤ 1 (one insertion, deletion, substitution or adjacent swap)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# Function words that make a Latin text look English; with the lexicon's English words they keep the gloss
# from "translating" English text through look-alike keys (vi_plain "in" = inch, "do" = red, "be" = kids).
ENGLISH_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "best",
        "buy",
        "by",
        "cheap",
        "do",
        "for",
        "from",
        "good",
        "has",
        "have",
        "in",
        "is",
        "it",
        "new",
        "of",
        "on",
        "or",
        "sale",
        "set",
        "the",
        "to",
        "under",
        "up",
        "with",
        "without",
        "you",
        "your",
    }
)


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
                self.english_words.update(_tokens(fold(term)) + _tokens(en))
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
                for variant in _deletions(word) | {word}:
                    self.neighbours[variant].add(word)

    def english_share(self, text: str) -> float:
        """Fraction of tokens that are English words: the cheap language-id signal for Latin text."""
        tokens = _tokens(fold(text))
        return sum(t in self.english_words for t in tokens) / len(tokens) if tokens else 0.0

    def correct(self, word: str) -> str:
        """The plain lexicon word one edit away from ``word`` (deterministic on ties), else ``word`` itself."""
        if word in self.vocab or word in self.english_words or len(word) < TYPO_MIN_LEN:
            return word
        candidates: set[str] = set()
        for variant in _deletions(word) | {word}:
            candidates |= self.neighbours.get(variant, set())
        matches = sorted(c for c in candidates if _within_one_edit(word, c))
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
        tokens = _tokens(lower(text))
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
        raw = _SPACES.sub(" ", text).strip()
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
