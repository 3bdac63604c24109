"""Arca training pairs (xx text, English text): sentences, lexicon terms, product phrases, train queries.

What may be trained on is decided here and nowhere else. Allowed: the parallel corpora ``flores200_dev``,
``ntrex128`` and ``tico19_test``; the catalogue lexicon; ``queries.train.jsonl``. Refused with an error:
``flores200_devtest`` (the reported evaluation), ``sib200`` (it reuses FLORES devtest sentences) and any
dev/test query file. As a second line of defence, any pair whose text also occurs in FLORES devtest is dropped.
Sentences and short product nouns are mixed so the alignment generalises beyond one domain.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from core.settings import LANGUAGES

ALLOWED_CORPORA: tuple[str, ...] = ("flores200_dev", "ntrex128", "tico19_test")
FORBIDDEN_MARKERS: tuple[str, ...] = ("devtest", "sib200")
DECONTAMINATE_WITH = "flores200_devtest"
TRAIN_QUERIES = "queries.train.jsonl"
TRAIN_LANGUAGES: tuple[str, ...] = tuple(lang for lang in LANGUAGES if lang != "en")
SOURCES: tuple[str, ...] = ("sentence", "term", "phrase", "query")
PASSAGE_SOURCES: tuple[str, ...] = ("term", "phrase", "query")  # product text: also trained as "passage: "


class ForbiddenDataError(ValueError):
    """A held-out evaluation set was asked for as training data."""


@dataclass(frozen=True)
class Pair:
    text: str  # what the student sees (non-English)
    english: str  # the teacher's input: the anchor
    language: str
    source: str  # one of SOURCES
    typed: str | None = None  # the same content as typed on a Latin keyboard (hand-written), when known


@dataclass
class TrainingData:
    pools: dict[str, list[Pair]]  # source -> pairs
    english_only: list[str]  # extra English texts for the stability term (English queries)

    def english_texts(self, sources: Sequence[str] = SOURCES) -> list[str]:
        """Distinct English sides of the given pools, plus the English-only texts."""
        texts = {p.english for s in sources for p in self.pools.get(s, ())} | set(self.english_only)
        return sorted(texts)

    def digest(self) -> str:
        """Content hash of everything trained on: keys the teacher-embedding cache."""
        h = hashlib.sha256()
        for source in sorted(self.pools):
            for p in self.pools[source]:
                h.update(json.dumps(asdict(p), ensure_ascii=False).encode())
        h.update(json.dumps(self.english_only, ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    def by_english(self) -> dict[str, list[Pair]]:
        """Pairs sharing an English side: translations of one another (multi-parallel corpora)."""
        out: dict[str, list[Pair]] = defaultdict(list)
        for pool in self.pools.values():
            for p in pool:
                out[p.english].append(p)
        return out


def _refuse_forbidden(path: Path, what: str) -> None:
    for candidate in (path, path.resolve()):
        if any(m in candidate.name.lower() for m in FORBIDDEN_MARKERS):
            raise ForbiddenDataError(f"{what} {path} is held-out evaluation data (FLORES devtest / SIB-200)")


def corpus_dir(data_dir: Path, name: str) -> Path:
    """The folder of an allowed corpus; anything else (devtest, sib200, unknown names) raises."""
    path = Path(data_dir) / name
    _refuse_forbidden(path, "corpus")
    if name not in ALLOWED_CORPORA:
        raise ForbiddenDataError(f"corpus {name!r} is not an allowed training corpus {ALLOWED_CORPORA}")
    return path


def train_queries_path(path: Path) -> Path:
    """Only ``queries.train.jsonl`` may be trained on: dev is for tuning, test for reporting."""
    path = Path(path)
    if path.name != TRAIN_QUERIES or path.resolve().name != TRAIN_QUERIES:
        raise ForbiddenDataError(f"{path}: only {TRAIN_QUERIES} may be used for training, never dev/test queries")
    return path


def _read_tsv(path: Path) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) == 2 and fields[0].strip() and fields[1].strip():
                rows.append((fields[0].strip(), fields[1].strip()))
    return rows


def _devtest_texts(data_dir: Path) -> set[str]:
    """Every sentence of FLORES devtest, read only to make sure none of it is trained on."""
    texts: set[str] = set()
    for path in sorted((Path(data_dir) / DECONTAMINATE_WITH).glob("*.tsv")):
        for en, xx in _read_tsv(path):
            texts.update((en, xx))
    return texts


def read_parallel(
    data_dir: Path,
    corpora: Sequence[str] = ALLOWED_CORPORA,
    languages: Sequence[str] = TRAIN_LANGUAGES,
    holdout_flores_dev: int = 0,
) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, held-out pairs): the last ``holdout_flores_dev`` FLORES dev sentences are held out."""
    dirs = [corpus_dir(data_dir, name) for name in corpora]  # refuse before reading anything
    blocked = _devtest_texts(data_dir)
    pairs: list[Pair] = []
    holdout: list[Pair] = []
    dropped = 0
    for name, path in zip(corpora, dirs, strict=True):
        for lang in languages:
            file = path / f"{lang}.tsv"
            if not file.is_file():
                continue  # tico19 has no vi/th
            rows = _read_tsv(file)
            cut = len(rows) - holdout_flores_dev if name == "flores200_dev" else len(rows)
            for i, (en, xx) in enumerate(rows):
                if en in blocked or xx in blocked:
                    dropped += 1
                    continue
                (pairs if i < cut else holdout).append(Pair(xx, en, lang, "sentence"))
    if dropped:
        print(f"warning: dropped {dropped} training pairs that occur in {DECONTAMINATE_WITH}", file=sys.stderr)
    if not pairs:
        raise FileNotFoundError(
            f"no training sentences found in {data_dir} (looked for {', '.join(corpora)}; "
            f"{DECONTAMINATE_WITH} and sib200 are never used): set LIRA_DATA_DIR"
        )
    return pairs, holdout


def lexicon_entries(languages: Iterable[str] = LANGUAGES) -> list[tuple[str, str, str]]:
    """(language, term, English) for the glosser: native, romanised and plain spellings; ``en`` = English words."""
    from data.lexicon import term_pairs

    return [(lang, term, en) for lang in languages for term, en in term_pairs(lang)]


def vocabulary_entries(path: Path, languages: Iterable[str] = LANGUAGES) -> list[tuple[str, str, str]]:
    """(language, term, English) from a real bilingual vocabulary file (``python -m data.vocabulary``), in the
    glosser's format: Thai, Arabic-script and Bengali terms also get their machine romanisation (the roman view's
    transliterator), so romanised input can be glossed; the English lemmas also become ``en`` entries, which
    teach the glosser English words."""
    from core.text import romanise
    from data.vocabulary import read_vocabulary

    wanted = set(languages)
    rows = [(lang, term, en) for lang, term, en in read_vocabulary(path) if lang in wanted]
    if not rows:
        raise FileNotFoundError(f"vocabulary {path} has no entries for {sorted(wanted)}")
    romanised = [(lang, rom, en) for lang, term, en in rows if (rom := romanise(term)) and rom.strip()]
    english = sorted({en for _, _, en in rows})
    return rows + romanised + [("en", en, en) for en in english]


def term_pairs_for(languages: Sequence[str], entries: Iterable[tuple[str, str, str]] | None = None) -> list[Pair]:
    """Term pairs of the hand-written lexicon, or of ``entries`` (a real vocabulary) when given."""
    rows = lexicon_entries(languages) if entries is None else entries
    wanted = set(languages)
    return [Pair(term, en, lang, "term") for lang, term, en in rows if lang != "en" and lang in wanted]


def _pick(rng: random.Random, names: Sequence[str]) -> str:
    return names[0] if rng.random() < 0.5 else rng.choice(names)


def synthetic_phrases(languages: Sequence[str], per_language: int, seed: int) -> list[Pair]:
    """Short product phrases (type + colour/material/audience/brand/spec) in xx and English, from the lexicon.

    The typed form (vi_plain, th_latn, ur_latn, bn_latn) of the same phrase rides along for consistency.
    """
    from data.lexicon import TYPED_FORMS, load_lexicon

    lex = load_lexicon()
    rng = random.Random(seed)
    out: list[Pair] = []
    for lang in languages:
        typed_form = TYPED_FORMS.get(lang)
        types = [t for t in lex.types if t.sold_in(lang)]
        for _ in range(per_language):
            t = rng.choice(types)
            attrs = []  # (names, English): xx lists them after the noun, English before it
            for keys, table, p in ((t.colours, lex.colours, 0.5), (t.materials, lex.materials, 0.25)):
                if keys and rng.random() < p:
                    term = table[rng.choice(keys)]
                    attrs.append((term.names, term.names.canonical("en")))
            rng.shuffle(attrs)
            slots = [(t.names, t.names.canonical("en")), *attrs]
            english = [en for _, en in attrs] + [t.names.canonical("en")]
            if t.audiences and rng.random() < 0.3:
                term = lex.audiences[rng.choice(t.audiences)]
                slots.append((term.names, ""))
                english.insert(0, term.names.canonical("en"))
            native = [_pick(rng, names.form(lang)) for names, _ in slots]
            typed = [_pick(rng, names.form(typed_form)) for names, _ in slots] if typed_form else None
            brands = lex.brands_for(t, lang)
            if brands and rng.random() < 0.4:
                b = rng.choice(brands)
                first = rng.random() < 0.5
                for words, name in ((native, b.native.get(lang, b.name)), (typed, b.name), (english, b.name)):
                    if words is not None:
                        words.insert(0 if first else len(words), name)
            if t.specs and rng.random() < 0.3:
                spec = rng.choice(list(t.specs.values()))
                value = rng.choice(spec.values)
                unit = lex.units[spec.unit]
                for words, form in ((native, lang), (typed, typed_form), (english, "en")):
                    if words is not None:
                        name = unit.names.canonical(form)
                        words.append(f"{value}{name}" if unit.attach and name.isascii() else f"{value} {name}")
            out.append(Pair(" ".join(native), " ".join(english), lang, "phrase", " ".join(typed) if typed else None))
    return out


def held_out_query(query_id: str, every: int) -> bool:
    """Deterministic 1-in-``every`` split of the train queries kept for the sanity check (0 = none)."""
    return every > 0 and zlib.crc32(query_id.encode()) % every == 0


def english_titles(products_path: Path) -> dict[str, str]:
    """Product id → title of the English products in the catalogue file: the targets queries are anchored to."""
    titles: dict[str, str] = {}
    with Path(products_path).open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("language") == "en":
                titles[row["id"]] = row["title"]
    return titles


def read_train_queries(
    queries_path: Path, products_path: Path, per_query: int = 2, holdout_every: int = 0
) -> tuple[list[Pair], list[str]]:
    """(xx query → English title of a grade-3 English product) pairs, and the English-typed train queries.

    ``cross_lingual_en`` queries are English already: they join the English-stability texts instead.
    """
    queries_path = train_queries_path(queries_path)
    titles = english_titles(products_path)
    pairs: list[Pair] = []
    english: set[str] = set()
    with queries_path.open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            if held_out_query(q["id"], holdout_every):
                continue
            if q["language"] == "en" or q.get("noise") == "cross_lingual_en":
                english.add(q["text"])
                continue
            best = sorted(pid for pid, grade in q["relevant"].items() if grade >= 3 and pid in titles)
            pairs += [Pair(q["text"], titles[pid], q["language"], "query") for pid in best[:per_query]]
    return pairs, sorted(english)
