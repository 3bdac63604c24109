"""Synonym rules a merchant edits, in the Solr/Elasticsearch synonyms format, with a section per language.

    # comments and blank lines are ignored
    [vi]                           # rules below apply to searches that include Vietnamese listings
    tivi, ti vi, tv                # multi-way: any of them adds the others
    laptop => máy tính xách tay    # one-way: "laptop" adds "máy tính xách tay", not the reverse
    [all]                          # every language (also the section before any header)
    hoodie, áo hoodie

A rule matches whole words of the query, case- and diacritic-insensitively (a shopper types "tivi" or "TIVI"), the
longest rule first. Its other side goes to the **lexical** side of the search only, like the cross-lingual terms:
the dense query is unchanged. Nothing in the serving path needs a synonyms file; without one there are no rules.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import LANGUAGES
from core.text import fold, split_words

ALL = "all"
MAX_RULES = 50_000


class SynonymsError(ValueError):
    """A synonyms text that cannot be read; the message names the line."""


@dataclass(frozen=True)
class Rule:
    language: str  # a language code or "all"
    inputs: tuple[str, ...]  # what matches in a query
    outputs: tuple[str, ...]  # what a match adds (for a multi-way rule: the same terms)
    line: int


def _key(text: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in split_words(text))


@dataclass
class Synonyms:
    rules: list[Rule] = field(default_factory=list)
    source: str = ""  # the text the rules were read from, kept verbatim for GET /v1/admin/synonyms

    def __post_init__(self) -> None:
        # (language, folded words) -> the terms a match adds, in rule order without repeats
        self._index: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._longest = 0
        for rule in self.rules:
            for term in rule.inputs:
                key = _key(term)
                if not key:
                    continue
                adds = self._index.setdefault((rule.language, key), [])
                adds.extend(t for t in rule.outputs if _key(t) != key and t not in adds)
                self._longest = max(self._longest, len(key))

    @classmethod
    def parse(cls, text: str) -> Synonyms:
        rules: list[Rule] = []
        language = ALL
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise SynonymsError(f"line {lineno}: a section header looks like [vi] or [all], got {line!r}")
                language = line[1:-1].strip().lower()
                if language not in (*LANGUAGES, ALL):
                    raise SynonymsError(
                        f"line {lineno}: unknown language {language!r}; expected one of {', '.join((*LANGUAGES, ALL))}"
                    )
                continue
            if line.count("=>") > 1:
                raise SynonymsError(f"line {lineno}: more than one '=>'")
            if "=>" in line:
                left, right = line.split("=>")
                inputs, outputs = _terms(left), _terms(right)
                if not inputs or not outputs:
                    raise SynonymsError(f"line {lineno}: a one-way rule needs terms on both sides of '=>'")
            else:
                inputs = outputs = _terms(line)
                if len(inputs) < 2:
                    raise SynonymsError(f"line {lineno}: a multi-way rule needs at least two comma-separated terms")
            if any(not _key(t) for t in (*inputs, *outputs)):
                raise SynonymsError(f"line {lineno}: a term has no word in it")
            rules.append(Rule(language, inputs, outputs, lineno))
            if len(rules) > MAX_RULES:
                raise SynonymsError(f"more than {MAX_RULES} rules")
        return cls(rules, text)

    @classmethod
    def load(cls, path: Path | None) -> Synonyms:
        """The rules in ``path``; no path means no rules. A bad file is a ``SynonymsError`` naming file and line."""
        if path is None:
            return cls()
        try:
            return cls.parse(path.read_text(encoding="utf-8"))
        except SynonymsError as e:
            raise SynonymsError(f"{path}: {e}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SynonymsError(f"{path}: cannot read the synonyms file: {e}") from None

    def save(self, path: Path) -> None:
        """Write ``source`` so that a crash leaves the old file or the new one, never half of it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.source)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rule in self.rules:
            out[rule.language] = out.get(rule.language, 0) + 1
        return out

    def expansions(self, query: str, languages: Sequence[str] | None) -> list[str]:
        """The terms the rules add for ``query`` in a search over ``languages`` (None: every language): greedy
        longest match over the query's words, left to right; terms already in the query are left out."""
        if not self._index:
            return []
        words = _key(query)
        scopes = [ALL, *(languages or LANGUAGES)]
        out: list[str] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                span = words[i : i + n]
                hits = [t for lang in scopes for t in self._index.get((lang, span), ())]
                if hits:
                    out.extend(t for t in hits if t not in out and not _contains(words, _key(t)))
                    i += n
                    break
            else:
                i += 1
        return out


def lexical_expansions(translations: Sequence[str], synonyms: Sequence[str]) -> list[str]:
    """The lexical side's extra terms: the cross-lingual ones, then the synonym rules' that are not among them (the
    API and the evaluation's hybrid candidates both search with this list)."""
    return [*translations, *(t for t in synonyms if t not in translations)]


def _terms(side: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in side.split(",") if t.strip()))


def _contains(words: tuple[str, ...], part: Iterable[str]) -> bool:
    part = tuple(part)
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))
