"""The one text-normalisation module every part shares (indexer, service, models, evaluation): case and
diacritic folding, scripts, tokenising (Thai segmented by PyThaiNLP), romanisation of Thai / Urdu / Bengali runs,
and the one-edit tests of spelling matches.

Two folds, on purpose: ``fold`` normalises a whole text (NFKC, casefold, Latin marks stripped, a few extra Latin
letters mapped) for keys and views; ``fold_token`` strips the marks of one already-lower-cased lexical token and
gives the twin term of the sparse vectors (``core.lexical``), whose term ids are in every index.

Tokenising (``tokenize``): bm25s' default tokeniser splits on Python's ``\\w``, which excludes combining marks:
Bengali, Thai and Urdu words would break at every vowel sign ("আমাদের" -> "আম", "দ", "র"). Here: NFC, lowercase,
runs of letters/marks/digits (diacritics kept, so "ca" and "cá" stay distinct), and Thai runs, which have no
spaces, segmented with PyThaiNLP's newmm. Choosing by script rather than by a language label keeps a Thai query
typed in English, or English words inside Thai text, tokenised exactly like English products.
"""

from __future__ import annotations

import re
import sys
import threading
import unicodedata
from collections import defaultdict
from functools import cache, lru_cache

SCRIPTS: tuple[str, ...] = ("latin", "thai", "arabic", "bengali", "other")

_EXTRA_FOLDS = str.maketrans({"đ": "d", "ð": "d", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "ı": "i"})
_VI_LETTERS = set("ăâđêôơư" + "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
_RUN = re.compile(r"([\u0E00-\u0E7F]+|[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]+|[\u0980-\u09FF]+)")
SPACES = re.compile(r"\s+")
_NFKC_SARA_AM = "\u0e4d\u0e32"  # NFKC splits Thai SARA AM; the romaniser and lexicon expect it whole


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
    return SPACES.sub(" ", text).strip()


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


def split_words(text: str) -> list[str]:
    """Whitespace tokens with punctuation/symbols as separators (combining marks stay inside words)."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "PSZ" and ch not in "-&+" else ch for ch in text)
    return cleaned.split()


def deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
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


_THAI = re.compile(r"[\u0e00-\u0e7f]")


@cache
def _token_pattern() -> re.Pattern[str]:
    """Letters and digits (``[^\\W_]``) plus every combining mark (category M*), as ranges for the regex."""
    ranges: list[str] = []
    start = prev = -2
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp))[0] != "M":
            continue
        if cp != prev + 1:
            if start >= 0:
                ranges.append(f"\\U{start:08x}-\\U{prev:08x}")
            start = cp
        prev = cp
    ranges.append(f"\\U{start:08x}-\\U{prev:08x}")
    return re.compile(f"(?:[^\\W_]|[{''.join(ranges)}])+")


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for tok in _token_pattern().findall(unicodedata.normalize("NFC", text).lower()):
        if _THAI.search(tok):
            from pythainlp.tokenize import word_tokenize

            tokens.extend(t for t in word_tokenize(tok, engine="newmm", keep_whitespace=False) if t.strip())
        else:
            tokens.append(tok)
    return tokens


def fold_token(token: str) -> str:
    """Strip combining marks of Latin letters (Vietnamese, Malay/Tagalog loanword accents); đ → d."""
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFD", token.replace("đ", "d"))
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # only Latin-script tokens are folded: marks are letters' vowels in Thai, Bengali and Urdu
    return unicodedata.normalize("NFC", folded) if folded.isascii() else token


# markets whose catalogue is written in its own script: a Latin-script query in one of them is romanised, and its
# unknown words are transliterations, which the index's vocabulary "corrects" into unrelated English look-alikes
# (Thai "thao" → "that"): the dense side does not take those (dev figures in the model card)
OWN_SCRIPT_LANGUAGES = frozenset({"th", "ur", "bn"})


def thai_runs(text: str) -> list[str]:
    """The Thai-script runs of ``text`` between spaces (NFC, lower case, as ``tokenize`` sees them). Thai writes a
    phrase without spaces, so a typo inside one ("หุ่นยน์ดูดฝุ่น", "สีีดำ") breaks PyThaiNLP's segmentation into
    fragments no word-level correction can repair, while the whole run is one edit from a run in the titles."""
    return [run for run in unicodedata.normalize("NFC", text).lower().split() if script_of(run) == "thai"]
