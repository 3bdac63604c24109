"""A catalogue's own cross-lingual vocabulary, mined at index time from the listings being indexed.

A merchant's catalogue brings words no lexicon here has seen. From the catalogue alone this finds, per language,
its product terms (whole short titles and the title n-grams several listings share, brands left out) and aligns
each market language's terms to the English listings' terms and category names:

- **aligned**: bilingual lexicon induction over the serving encoder's vectors of the terms, cross-domain similarity
  local scaling (CSLS, Conneau et al. 2018) so that hub terms do not pair with everything, mutual nearest
  neighbours only, and a bonus when the two terms' listings share a category (a merchant's categories are one
  taxonomy across markets). The confidence is the CSLS score with that bonus.
- **romanised**: every Thai, Urdu and Bengali term's Latin spelling (the roman view's transliterator), so a query
  typed in Roman Urdu, Banglish or romanised Thai finds the native-script titles.

The pairs feed what the hand-written lexicon feeds when it is switched on: the lexical query expansion and the
dense pull towards the market's names (``app.query.expansion.QueryTranslator``), and the spelling vocabulary
(``app.query.spelling.Speller``). The vocabulary is stored with the index version it was mined for
(``VectorStore.write_sidecar``), so a search always uses the vocabulary of the version it reads.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.catalogue import Product
from core.store.base import IndexVersion, VectorStore

VOCABULARY_VERSION = "cv1"
SIDECAR = "vocabulary"

MAX_NGRAM = 3
MAX_TITLE_TERM_WORDS = 4  # a whole title this short is a term even if no other listing shares it
MAX_TERMS_PER_LANGUAGE = 6000  # the most frequent; bounds the encoding at index time
CSLS_K = 10
# chosen on the real benchmark's dev queries (hybrid + LaSR nDCG@10; bonus 0-0.5 x min score 0-0.35, model card
# "Catalogue vocabulary"): more pairs help as long as the category agrees; forward-only (not mutual) pairs were level
MIN_SCORE = 0.1  # CSLS + category bonus
CATEGORY_BONUS = 0.3
MIN_SUPPORT, MIN_PRECISION, MIN_COVERAGE = 3, 0.8, 0.2  # co-occurrence of a title term with an English label
OWN_SCRIPT = ("th", "ur", "bn")

_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "with",
        "in",
        "on",
        "to",
        "by",
        "or",
        "x",
        "size",
        "free",
        "shipping",
        "new",
        "original",
        "genuine",
        "pcs",
        "pack",
        "set",
    }
)


@dataclass(frozen=True)
class VocabularyPair:
    language: str
    term: str
    english: str
    score: float
    source: str  # "aligned" or "romanised"


@dataclass
class CatalogueVocabulary:
    pairs: list[VocabularyPair] = field(default_factory=list)
    terms: dict[str, int] = field(default_factory=dict)  # terms mined per language
    seconds: float = 0.0
    version: str = VOCABULARY_VERSION

    def entries(self) -> list[tuple[str, str, str]]:
        """(language, term, English) in ``QueryTranslator``'s format, surest pair first; the English terms also
        as ``en`` entries, so they are matched in a query."""
        ordered = sorted(self.pairs, key=lambda p: (-p.score, p.language, p.term))
        english = dict.fromkeys(p.english for p in ordered)
        return [(p.language, p.term, p.english) for p in ordered] + [("en", e, e) for e in english]

    def summary(self) -> dict:
        by: dict[str, Counter[str]] = defaultdict(Counter)
        for p in self.pairs:
            by[p.source][p.language] += 1
        return {
            "version": self.version,
            "terms": dict(self.terms),
            "pairs": dict(by["aligned"]),
            "cooccurrence": dict(by["cooccurrence"]),
            "romanised": dict(by["romanised"]),
            "seconds": round(self.seconds, 1),
        }

    def lookup(self, query: str, added: Iterable[str]) -> list[dict]:
        """The pairs behind a search (for ``explain``): those whose term the query contains as whole words, and
        those whose term or English is one of the terms the search ``added``."""
        from core.text import fold

        typed = f" {' '.join(fold(query).split())} "
        wanted = {fold(t) for t in added}
        return [
            asdict(p)
            for p in self.pairs
            if f" {fold(p.term)} " in typed or fold(p.term) in wanted or fold(p.english) in wanted
        ]

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "terms": self.terms,
            "seconds": self.seconds,
            "pairs": [[p.language, p.term, p.english, round(p.score, 4), p.source] for p in self.pairs],
        }

    @classmethod
    def from_json(cls, data: dict) -> CatalogueVocabulary:
        return cls(
            pairs=[
                VocabularyPair(lang, term, en, float(score), source)
                for lang, term, en, score, source in data.get("pairs", [])
            ],
            terms={k: int(v) for k, v in data.get("terms", {}).items()},
            seconds=float(data.get("seconds", 0.0)),
            version=str(data.get("version", "")),
        )


def write_vocabulary(store: VectorStore, version: IndexVersion, vocabulary: CatalogueVocabulary) -> None:
    """Keep ``vocabulary`` with the (unfinished) ``version`` it was mined for."""
    store.write_sidecar(version, SIDECAR, vocabulary.to_json())


def serving_vocabulary(store: VectorStore, version: IndexVersion) -> CatalogueVocabulary | None:
    """The vocabulary mined for ``version`` (None: built without one, or before index layout 4)."""
    data = store.read_sidecar(version, SIDECAR)
    return CatalogueVocabulary.from_json(data) if data is not None else None


class TermCache:
    """Query vectors of the terms the last reindex mined, on disk (one file per encoder fingerprint): a reindex of
    a catalogue that changed a little encodes only its new terms. The file keeps the terms of the latest run."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.table: dict[str, np.ndarray] = {}
        self.reused = 0
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    self.table = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
            except (OSError, ValueError, KeyError) as exc:  # unreadable: encode everything again
                print(f"warning: term cache {path} unreadable ({exc}); re-encoding the terms", file=sys.stderr)

    def wrap(self, encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
        def cached(texts: list[str]) -> np.ndarray:
            missing = [t for t in texts if t not in self.table]
            if missing:
                self.table.update(zip(missing, encode(missing), strict=True))
            self.reused = len(texts) - len(missing)
            out = np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
            self._save(texts, out)
            return out

        return cached

    def _save(self, texts: list[str], vectors: np.ndarray) -> None:
        if self.path is None or not texts:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.tmp.npz")
        np.savez(tmp, texts=np.array(texts, dtype=str), vectors=vectors.astype(np.float32))
        tmp.replace(self.path)


def _words(text: str) -> list[str]:
    from core.text import tokenize

    return [w for w in tokenize(text) if any(c.isalpha() for c in w)]


def _joined(language: str, words: Sequence[str]) -> str:
    return ("" if language == "th" else " ").join(words)


def _usable(words: Sequence[str], brands: set[str]) -> bool:
    if not words or words[0] in _STOP or words[-1] in _STOP:
        return False
    return all(len(w) > 1 and not any(c.isdigit() for c in w) and w not in brands for w in words)


@dataclass
class _Terms:
    texts: list[str]
    categories: list[frozenset[str]]
    whole: list[bool]  # a whole (short) title or a category name, not a fragment of a title

    def subset(self, keep: Sequence[bool]) -> _Terms:
        rows = [i for i, k in enumerate(keep) if k]
        return _Terms([self.texts[i] for i in rows], [self.categories[i] for i in rows], [self.whole[i] for i in rows])


def _title_terms(p: Product, brands: set[str]) -> tuple[set[str], str | None]:
    """The usable n-grams of a listing's title, and the title itself without its brand when it is short enough to be
    a term of its own."""
    words = _words(p.title)
    grams = {
        _joined(p.language, words[i : i + n])
        for n in range(1, MAX_NGRAM + 1)
        for i in range(len(words) - n + 1)
        if _usable(words[i : i + n], brands)
    }
    kept = [w for w in words if w not in brands]
    whole = _joined(p.language, kept) if 0 < len(kept) <= MAX_TITLE_TERM_WORDS and _usable(kept, brands) else None
    return grams | ({whole} if whole else set()), whole


def _brands(products: Sequence[Product]) -> set[str]:
    return {w for p in products if p.brand for w in _words(p.brand)}


TitleTerms = list[tuple[set[str], str | None]]  # ``_title_terms`` of each product, in catalogue order


def title_terms(products: Sequence[Product]) -> TitleTerms:
    """``_title_terms`` of every product (tokenising a title, Thai segmentation included, is the costly part:
    done once and shared by ``catalogue_terms`` and ``cooccurrence_pairs``)."""
    brands = _brands(products)
    return [_title_terms(p, brands) for p in products]


def catalogue_terms(products: Sequence[Product], titles: TitleTerms | None = None) -> dict[str, _Terms]:
    """Per language, its terms (most frequent first, at most ``MAX_TERMS_PER_LANGUAGE``) with the leaf categories
    of the listings they occur in; English also gets the catalogue's category names. ``titles``: ``title_terms``
    of ``products``, if already computed."""
    df: dict[str, Counter[str]] = defaultdict(Counter)
    cats: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    whole: dict[str, set[str]] = defaultdict(set)
    for p, (seen, title) in zip(products, titles if titles is not None else title_terms(products), strict=True):
        leaf = p.category.split(" > ")[-1]
        if title:
            whole[p.language].add(title)
        for term in seen:
            df[p.language][term] += 1
            cats[p.language][term][leaf] += 1
        if p.language != "en":
            for part in p.category.split(" > "):
                term = part.lower()
                df["en"][term] += 1
                cats["en"][term][leaf] += 1
                whole["en"].add(term)
    out = {}
    for lang, counts in df.items():
        ranked = sorted((t for t, c in counts.items() if c >= 2 or t in whole[lang]), key=lambda t: (-counts[t], t))
        ranked = ranked[:MAX_TERMS_PER_LANGUAGE]
        out[lang] = _Terms(
            ranked,
            [frozenset(c for c, _ in cats[lang][t].most_common(3)) for t in ranked],
            [t in whole[lang] for t in ranked],
        )
    return out


def _labels(p: Product) -> set[str]:
    """The English labels a listing carries: its leaf category and its attribute values with letters and no digits
    ("black", "cotton", "women"; not "41" or "3m")."""
    values = {
        v.strip().lower()
        for v in p.attributes.values()
        if any(c.isalpha() for c in v) and not any(c.isdigit() for c in v)
    }
    return {p.category.split(" > ")[-1].lower(), *values}


def cooccurrence_pairs(
    products: Sequence[Product],
    min_support: int = MIN_SUPPORT,
    min_precision: float = MIN_PRECISION,
    min_coverage: float = MIN_COVERAGE,
    titles: TitleTerms | None = None,
) -> list[VocabularyPair]:
    """Title terms that (nearly) always come with one English label, in every language (English too: its titles'
    words for a category name): ``min_support`` listings at least, the label on ``min_precision`` of the term's
    listings, the term on ``min_coverage`` of the label's. Score: precision x coverage; a term's best label only.
    ``titles``: ``title_terms`` of ``products``, if already computed."""
    terms: dict[str, Counter[str]] = defaultdict(Counter)
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    joint: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for p, (found, _) in zip(products, titles if titles is not None else title_terms(products), strict=True):
        tags = _labels(p)
        terms[p.language].update(found)
        labels[p.language].update(tags)
        joint[p.language].update((t, a) for t in found for a in tags)
    pairs = []
    for lang in sorted(joint):
        best: dict[str, tuple[float, str]] = {}
        for (term, label), c in joint[lang].items():
            if c < min_support or term == label:
                continue
            precision, coverage = c / terms[lang][term], c / labels[lang][label]
            if precision >= min_precision and coverage >= min_coverage:
                score = precision * coverage
                if term not in best or (score, label) > best[term]:
                    best[term] = (score, label)
        pairs += [
            VocabularyPair(lang, term, label, score, "cooccurrence") for term, (score, label) in sorted(best.items())
        ]
    return pairs


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def align(
    source: np.ndarray,
    target: np.ndarray,
    source_cats: Sequence[frozenset[str]],
    target_cats: Sequence[frozenset[str]],
    k: int = CSLS_K,
    bonus: float = CATEGORY_BONUS,
    min_score: float = MIN_SCORE,
) -> list[tuple[int, int, float]]:
    """(source row, target row, score) of the mutual CSLS nearest neighbours scoring at least ``min_score``."""
    if not len(source) or not len(target):
        return []
    sims = _unit(source) @ _unit(target).T
    kk_s, kk_t = min(k, sims.shape[1]), min(k, sims.shape[0])
    r_source = np.sort(sims, axis=1)[:, -kk_s:].mean(axis=1)
    r_target = np.sort(sims, axis=0)[-kk_t:, :].mean(axis=0)
    csls = 2 * sims - r_source[:, None] - r_target[None, :]
    if bonus:
        index: dict[str, list[int]] = defaultdict(list)
        for j, cs in enumerate(target_cats):
            for c in cs:
                index[c].append(j)
        for i, cs in enumerate(source_cats):
            cols = sorted({j for c in cs for j in index.get(c, ())})
            if cols:
                csls[i, cols] += bonus
    best_t = csls.argmax(axis=1)
    best_s = csls.argmax(axis=0)
    return [(i, int(j), float(csls[i, j])) for i, j in enumerate(best_t) if best_s[j] == i and csls[i, j] >= min_score]


def mine_vocabulary(
    products: Sequence[Product],
    encode: Callable[[list[str]], np.ndarray],
    *,
    min_score: float = MIN_SCORE,
    bonus: float = CATEGORY_BONUS,
    progress: bool = True,
) -> CatalogueVocabulary:
    """The catalogue's vocabulary (module docstring); ``encode`` gives unit query vectors of short texts."""
    from core.text import romanise

    t0 = time.perf_counter()
    titles = title_terms(products)
    terms = catalogue_terms(products, titles)
    pairs: list[VocabularyPair] = cooccurrence_pairs(products, titles=titles)
    canonical = {(p.language, p.term): p for p in pairs}
    # the encoder aligns what co-occurrence left unpaired, to whole English names (title fragments like "grey men"
    # are not names): only those terms are encoded (about half of them)
    english = terms.get("en")
    target = english.subset(english.whole) if english is not None else None
    sources = {
        lang: found.subset([(lang, t) not in canonical for t in found.texts])
        for lang, found in sorted(terms.items())
        if lang != "en"
    }
    texts = []
    if target is not None and target.texts and any(s.texts for s in sources.values()):
        texts = list(dict.fromkeys([*target.texts, *(t for s in sources.values() for t in s.texts)]))
    if progress:
        print(f"vocabulary: encoding {len(texts)} catalogue terms in {len(terms)} languages", file=sys.stderr)
    vectors = dict(zip(texts, encode(texts), strict=True)) if texts else {}
    for lang, found in sorted(terms.items()):
        if lang == "en":
            continue
        source = sources[lang]
        if target is not None and source.texts and target.texts:
            matches = align(
                np.stack([vectors[t] for t in source.texts]),
                np.stack([vectors[t] for t in target.texts]),
                source.categories,
                target.categories,
                bonus=bonus,
                min_score=min_score,
            )
            for i, j, score in matches:
                pair = VocabularyPair(lang, source.texts[i], target.texts[j], score, "aligned")
                pairs.append(pair)
                canonical[lang, pair.term] = pair  # the encoder's pair names the romanised spelling
        if lang in OWN_SCRIPT:
            for term in found.texts:
                rom = romanise(term)
                if not rom or not rom.strip() or rom == term:
                    continue
                known = canonical.get((lang, term))
                # the Latin spelling of a term with no English pair points at the native term itself
                english_name, score = (known.english, known.score) if known else (term, 0.0)
                pairs.append(VocabularyPair(lang, rom.strip(), english_name, score, "romanised"))
                if known is None:
                    pairs.append(VocabularyPair(lang, term, term, 0.0, "romanised"))
    vocab = CatalogueVocabulary(
        pairs, {lang: len(t.texts) for lang, t in sorted(terms.items())}, time.perf_counter() - t0
    )
    if progress:
        s = vocab.summary()
        print(
            f"vocabulary: {sum(s['pairs'].values())} aligned pairs, {sum(s['cooccurrence'].values())} from "
            f"co-occurrence, {sum(s['romanised'].values())} romanised spellings in {vocab.seconds:.1f} s",
            file=sys.stderr,
        )
    return vocab
