"""Generate the bundled catalogue and its graded queries from the hand-written lexicon.

    python -m data.generate [--seed 7] [--out data/catalogue]

Reproducible byte for byte: every random choice comes from ``random.Random`` streams seeded with a
string derived from ``--seed`` (string seeds hash the same in every process), iteration follows the
lexicon's declared order or sorted order, and nothing reads the clock.

Files written:

- ``products.jsonl``: ``PRODUCTS_PER_LANGUAGE`` listings for English and each of the seven markets,
  each validated by ``core.catalogue.Product``. Titles follow the language's listing patterns (local
  type words around Latin brand/model names, units, seller tags); prices are in the market currency.
- ``queries.{train,dev,test}.jsonl``: ``{id, text, language, noise, relevant}``. ``language`` is the
  shopper's market; ``relevant`` maps product ids (from that market's listings and the English ones)
  to a grade: 3 = same type and every query constraint (brand, colour, audience, material) holds,
  a unisex product satisfying men/women; 2 = same type with a constraint failing, or a substitute
  type; 1 = a complement type.

Split rule (what keeps test a measure of generalisation rather than memory):

1. By type: a seeded 10% of product types is held out for test and 5% for dev; no train query is
   about them.
2. By wording: for every other type, each (type, type-name wording) pair is hashed with the seed
   into train (70%), dev (10%) or test (20%). The wording is the name a query uses for the product,
   case- and diacritic-folded, so "giày thể thao" and "giay the thao" are one wording and land in one
   split, whatever the language or noise.
3. Safety net: a folded query text belongs to the first split that produced it and is refused by
   the others, so no test text occurs in train, not even up to case and diacritics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.catalogue import Product
from core.settings import LANGUAGES
from data.lexicon import SLOT, TYPED_FORMS, Brand, Lexicon, Names, ProductType, load_lexicon

DEFAULT_SEED = 7
DEFAULT_OUT = Path(__file__).resolve().parent / "catalogue"
MARKETS: tuple[str, ...] = tuple(lang for lang in LANGUAGES if lang != "en")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
PRODUCTS_PER_LANGUAGE = 1600
QUERIES_PER_MARKET: dict[str, int] = {"train": 660, "dev": 120, "test": 330}
HELD_OUT_TYPES: dict[str, float] = {"test": 0.10, "dev": 0.05}
WORDING_SHARES: tuple[tuple[str, float], ...] = (("train", 0.70), ("dev", 0.10), ("test", 0.20))

Noise = Literal["clean", "no_diacritics", "romanized", "typo", "code_mixed", "cross_lingual_en"]
NOISES: tuple[str, ...] = ("clean", "no_diacritics", "romanized", "typo", "code_mixed", "cross_lingual_en")
# Only where the noise is real for the language: diacritics are a Vietnamese matter (id/ms/tl write none),
# and romanisation is for the non-Latin scripts.
NOISES_BY_MARKET: dict[str, tuple[str, ...]] = {
    "vi": ("clean", "no_diacritics", "typo", "code_mixed", "cross_lingual_en"),
    "th": ("clean", "romanized", "typo", "code_mixed", "cross_lingual_en"),
    "id": ("clean", "typo", "code_mixed", "cross_lingual_en"),
    "ms": ("clean", "typo", "code_mixed", "cross_lingual_en"),
    "tl": ("clean", "typo", "code_mixed", "cross_lingual_en"),
    "ur": ("clean", "romanized", "typo", "code_mixed", "cross_lingual_en"),
    "bn": ("clean", "romanized", "typo", "code_mixed", "cross_lingual_en"),
}

# currency, units per USD, rounding step, amount taken off the rounded price ("charm" pricing: 199,000 ₫, ฿299)
CURRENCIES: dict[str, tuple[str, float, float, float]] = {
    "en": ("USD", 1.0, 1, 0.01),
    "vi": ("VND", 25_000, 10_000, 1_000),
    "th": ("THB", 35, 10, 1),
    "id": ("IDR", 16_000, 1_000, 100),
    "ms": ("MYR", 4.6, 1, 0.1),
    "tl": ("PHP", 57, 10, 1),
    "ur": ("PKR", 280, 50, 1),
    "bn": ("BDT", 120, 10, 0),
}
BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
# Short names that listings print in capitals when title-casing ("Tv Led" reads wrong, "TV LED" right).
ACRONYMS = frozenset(
    {"ac", "bb", "bh", "cd", "cp", "hp", "ips", "led", "pc", "ro", "sd", "spf", "tv", "tws", "ups", "usb"}
)


class Query(BaseModel):
    """One row of queries.*.jsonl."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    language: str
    noise: Noise
    relevant: dict[str, Literal[1, 2, 3]] = Field(min_length=1)

    @field_validator("language")
    @classmethod
    def _market(cls, v: str) -> str:
        if v not in MARKETS:
            raise ValueError(f"query language must be a market ({', '.join(MARKETS)}), got {v!r}")
        return v


@dataclass(frozen=True)
class Listing:
    """A product plus the lexicon keys relevance judging needs."""

    product: Product
    type_key: str
    brand: str
    model: str
    colour: str | None
    material: str | None
    audience: str | None


@dataclass
class Summary:
    products: Counter[str] = field(default_factory=Counter)
    queries: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    noise: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def render(self) -> str:
        lines = ["products: " + ", ".join(f"{lang} {self.products[lang]}" for lang in LANGUAGES)]
        lines.append(f"{'queries':<8}" + "".join(f"{s:>7}" for s in SPLITS))
        lines += [f"{m:<8}" + "".join(f"{self.queries[s][m]:>7}" for s in SPLITS) for m in MARKETS]
        for split in SPLITS:
            lines.append(f"noise ({split}):")
            for m in MARKETS:
                counts = self.noise[(split, m)]
                lines.append(f"  {m}: " + ", ".join(f"{n} {counts[n]}" for n in NOISES_BY_MARKET[m]))
        return "\n".join(lines)


def strip_diacritics(text: str) -> str:
    """What a Vietnamese (or any Latin-script) shopper types without an accent keyboard: "giày" → "giay"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """Case- and mark-insensitive key used by the split rule (not meant for display)."""
    return " ".join(strip_diacritics(text).casefold().split())


def _fill(pattern: str, slots: dict[str, str]) -> str:
    return " ".join(SLOT.sub(lambda m: slots.get(m.group(1), ""), pattern).split())


def _overlaps(a: str, b: str) -> bool:
    """Whether one phrase contains the other: "baby clothes" already says "baby", so don't print it twice."""
    a, b = a.casefold(), b.casefold()
    return a in b or b in a


def _title_case(text: str) -> str:
    return " ".join(w.upper() if w in ACRONYMS else w[:1].upper() + w[1:] for w in text.split(" "))


def _stream(seed: int, *parts: str) -> random.Random:
    return random.Random(":".join((str(seed), *parts)))


# ---------------------------------------------------------------- products


def _spec_text(lex: Lexicon, lang: str, unit: str, value: str, rng: random.Random) -> str:
    term = lex.units[unit]
    form = term.names.canonical(lang)
    if lang == "bn" and not form.isascii() and rng.random() < 0.3:
        value = value.translate(BENGALI_DIGITS)  # Bangladeshi listings often print Bengali numerals
    return f"{value}{form}" if term.attach and form.isascii() else f"{value} {form}"


def _price(low: float, high: float, lang: str, rng: random.Random, rank: tuple[int, int] | None) -> float:
    """Log-uniform in the type's USD range; ``rank`` (i of n spec values) puts a 1 TB drive above a 64 GB one."""
    _, rate, step, charm = CURRENCIES[lang]
    position = (rank[0] + rng.random()) / rank[1] if rank else rng.random()
    usd = low * (high / low) ** position
    return round(max(step, round(usd * rate / step) * step) - charm, 2)


def _brand_display(brand: Brand, lang: str, rng: random.Random) -> str:
    if lang in brand.native and rng.random() < 0.35:
        return brand.native[lang]
    return brand.name


def _make_listing(lex: Lexicon, t: ProductType, lang: str, number: int, rng: random.Random) -> Listing:
    phrases = lex.phrases[lang]
    brands = lex.brands_for(t, lang)
    brand = rng.choice(brands) if brands and rng.random() < 0.92 else None
    model = rng.choice(brand.models) if brand and brand.models and rng.random() < 0.85 else ""
    colour = rng.choice(t.colours) if t.colours else None
    material = rng.choice(t.materials) if t.materials else None
    audience = rng.choice(t.audiences) if t.audiences else None
    size = rng.choice(lex.size_schemes[t.sizes].values) if t.sizes else None
    specs = {key: (spec.unit, rng.choice(spec.values)) for key, spec in t.specs.items()}
    rank = None
    if specs:
        key, (_, value) = next(iter(specs.items()))
        rank = (t.specs[key].values.index(value), len(t.specs[key].values))

    casing = "title" if rng.random() < 0.7 else "sentence"

    def local(names: Names) -> str:
        text = names.canonical(lang)
        return _title_case(text) if phrases.latin and casing == "title" else text

    type_name = t.names.canonical(lang) if rng.random() < 0.75 else rng.choice(t.names.form(lang))
    slots = {"type": _title_case(type_name) if phrases.latin and casing == "title" else type_name}
    if audience and (audience != "unisex" or rng.random() < 0.3) and rng.random() < 0.85:
        word = local(lex.audiences[audience].names)
        if not _overlaps(word, type_name):
            slots["audience"] = word
    if brand:
        slots["brand"] = _brand_display(brand, lang, rng)
    slots["model"] = model
    if material and rng.random() < 0.5:
        slots["material"] = local(lex.materials[material].names)
    if colour and rng.random() < 0.8:
        slots["colour"] = phrases.slot_formats.get("colour", "{}").format(local(lex.colours[colour].names))
    if specs and rng.random() < 0.9:
        unit, value = next(iter(specs.values()))
        slots["spec"] = _spec_text(lex, lang, unit, value, rng)
    if size and rng.random() < 0.7:
        name = lex.sizes[size].names.canonical(lang) if size in lex.sizes else size
        labelled = lex.size_schemes[t.sizes].labelled if t.sizes else False
        slots["size"] = phrases.slot_formats.get("size", "{}").format(name) if labelled else name
    if rng.random() < 0.6:
        slots["tag"] = rng.choice(phrases.tags)
    title = _fill(rng.choice(phrases.title_patterns), slots)
    if phrases.latin and casing == "sentence":
        title = title[:1].upper() + title[1:]

    name = t.names.canonical(lang)
    words = {
        "name": name,
        "Name": name[:1].upper() + name[1:],
        "brand": brand.name if brand else "",
        "material": lex.materials[material].names.canonical(lang) if material else "",
        "colour": lex.colours[colour].names.canonical(lang) if colour else "",
    }
    d = phrases.description
    sentences = [rng.choice(d.intro_brand if brand else d.intro_plain)]
    if material and rng.random() < 0.7:
        sentences.append(rng.choice(d.material))
    if colour and rng.random() < 0.5:
        sentences.append(rng.choice(d.colour))
    sentences.append(rng.choice(d.closing))
    description = " ".join(_fill(s, words) for s in sentences)

    attributes: dict[str, str] = {}
    if colour:
        attributes["colour"] = colour
    if material:
        attributes["material"] = lex.materials[material].names.canonical("en")
    if size:
        attributes["size"] = lex.sizes[size].names.canonical("en") if size in lex.sizes else size
    if audience:
        attributes["audience"] = audience
    for key, (unit, value) in specs.items():
        attributes[key] = _spec_text(lex, "en", unit, value, rng)
    if model:
        attributes["model"] = model

    product = Product.model_validate(
        {
            "id": f"{lang}-{number:06d}",
            "language": lang,
            "title": title,
            "description": description,
            "category": t.path,
            "brand": brand.name if brand else "",
            "price": _price(*t.price, lang, rng, rank),
            "currency": CURRENCIES[lang][0],
            "attributes": attributes,
        }
    )
    return Listing(product, t.key, brand.name if brand else "", model, colour, material, audience)


def generate_products(lex: Lexicon, seed: int) -> dict[str, list[Listing]]:
    """Per language, the types it sells in turn (so every type is stocked), in seeded shuffled order."""
    out: dict[str, list[Listing]] = {}
    for lang in LANGUAGES:
        rng = _stream(seed, "products", lang)
        sold = [t for t in lex.types if t.sold_in(lang)]
        sequence = [sold[i % len(sold)] for i in range(PRODUCTS_PER_LANGUAGE)]
        rng.shuffle(sequence)
        out[lang] = [_make_listing(lex, t, lang, i, rng) for i, t in enumerate(sequence, start=1)]
    return out


# ---------------------------------------------------------------- queries


@dataclass(frozen=True)
class _Ask:
    """What a query asks for: a type and the constraints taken from one listing of it."""

    type_key: str
    brand: str = ""
    model: str = ""
    colour: str | None = None
    material: str | None = None
    audience: str | None = None


def _matches(listing: Listing, ask: _Ask) -> bool:
    if ask.brand and listing.brand != ask.brand:
        return False
    if ask.model and listing.model != ask.model:
        return False
    if ask.colour and listing.colour != ask.colour:
        return False
    if ask.material and listing.material != ask.material:
        return False
    return (
        not ask.audience
        or listing.audience == ask.audience
        or (listing.audience == "unisex" and ask.audience in ("men", "women"))
    )


def _judge(lex: Lexicon, by_type: dict[str, dict[str, list[Listing]]], market: str, ask: _Ask) -> dict[str, int]:
    """Graded relevance over the market's listings and the English ones, best grade first."""
    grades: dict[str, int] = {}

    def give(listings: Sequence[Listing], grade: Callable[[Listing], int]) -> None:
        for listing in listings:
            pid = listing.product.id
            grades[pid] = max(grades.get(pid, 0), grade(listing))

    for lang in (market, "en"):
        stock = by_type[lang]
        for key in lex.complements_of(ask.type_key):
            give(stock.get(key, []), lambda _: 1)
        for key in lex.substitutes_of(ask.type_key):
            give(stock.get(key, []), lambda _: 2)
        give(stock.get(ask.type_key, []), lambda listing: 3 if _matches(listing, ask) else 2)
    return dict(sorted(grades.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class _Splitter:
    """Decides which split a (type, wording) pair and a query text belong to; see the module docstring."""

    seed: int
    held_out: dict[str, str]
    owner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, lex: Lexicon, seed: int) -> _Splitter:
        keys = sorted(t.key for t in lex.types)
        _stream(seed, "split").shuffle(keys)
        held_out: dict[str, str] = {}
        start = 0
        for split, share in HELD_OUT_TYPES.items():
            count = round(share * len(keys))
            held_out.update((key, split) for key in keys[start : start + count])
            start += count
        return cls(seed, held_out)

    def wording_split(self, type_key: str, surface: str) -> str:
        if type_key in self.held_out:
            return self.held_out[type_key]
        digest = hashlib.sha256(f"{self.seed}|{type_key}|{fold(surface)}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        cumulative = 0.0
        for split, share in WORDING_SHARES:
            cumulative += share
            if point < cumulative:
                return split
        return WORDING_SHARES[-1][0]

    def allows(self, split: str, type_key: str) -> bool:
        return self.held_out.get(type_key, split) == split

    def claim(self, split: str, text: str) -> bool:
        """True (and the text is now this split's) unless another split already owns it."""
        return self.owner.setdefault(fold(text), split) == split


def _typo(text: str, rng: random.Random) -> str | None:
    """One slip on one word: two letters swapped, one dropped, or one doubled."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and not any(c.isdigit() for c in w)]
    if not candidates:
        return None
    i = rng.choice(candidates)
    w = words[i]
    p = rng.randrange(1, len(w) - 1)
    op = rng.choice(("swap", "drop", "double"))
    if op == "swap":
        w2 = w[:p] + w[p + 1] + w[p] + w[p + 2 :]
    elif op == "drop":
        w2 = w[:p] + w[p + 1 :]
    else:
        w2 = w[:p] + w[p] + w[p:]
    if w2 == w:
        return None
    words[i] = w2
    return " ".join(words)


class _QueryMaker:
    def __init__(self, lex: Lexicon, listings: dict[str, list[Listing]], splitter: _Splitter) -> None:
        self.lex = lex
        self.splitter = splitter
        self.brands = {b.name: b for group in lex.brand_groups.values() for b in group}
        self.by_type: dict[str, dict[str, list[Listing]]] = {}
        for lang, rows in listings.items():
            grouped: dict[str, list[Listing]] = defaultdict(list)
            for listing in rows:
                grouped[listing.type_key].append(listing)
            self.by_type[lang] = dict(grouped)

    def _ask(self, rng: random.Random, market: str, t: ProductType, need_attribute: bool) -> _Ask | None:
        stock = self.by_type[market].get(t.key, []) + self.by_type["en"].get(t.key, [])
        seed_listing = rng.choice(stock)
        # an English listing may carry a brand the market never sees; shoppers there would not ask for it
        brand = self.brands.get(seed_listing.brand)
        local_brand = seed_listing.brand if brand and brand.sold_in(market) else ""
        available = [
            name
            for name, value in (
                ("brand", local_brand),
                ("colour", seed_listing.colour),
                ("material", seed_listing.material),
                ("audience", seed_listing.audience if seed_listing.audience != "unisex" else None),
            )
            if value
        ]
        count = rng.choices((0, 1, 2), weights=(35, 45, 20))[0]
        chosen = set(rng.sample(available, min(count, len(available))))
        if need_attribute and not chosen - {"brand"}:
            attributes = [a for a in available if a != "brand"]
            if not attributes:
                return None
            chosen.add(rng.choice(attributes))
        with_model = "brand" in chosen and bool(seed_listing.model) and rng.random() < 0.3
        return _Ask(
            t.key,
            brand=seed_listing.brand if "brand" in chosen else "",
            model=seed_listing.model if with_model else "",
            colour=seed_listing.colour if "colour" in chosen else None,
            material=seed_listing.material if "material" in chosen else None,
            audience=seed_listing.audience if "audience" in chosen else None,
        )

    def _term_names(self, ask: _Ask) -> dict[str, Names]:
        lex = self.lex
        out = {}
        if ask.colour:
            out["colour"] = lex.colours[ask.colour].names
        if ask.material:
            out["material"] = lex.materials[ask.material].names
        if ask.audience:
            out["audience"] = lex.audiences[ask.audience].names
        return out

    def _text(self, rng: random.Random, market: str, noise: str, split: str, t: ProductType, ask: _Ask) -> str | None:
        """The query text for ``ask`` with ``noise`` applied, or None when this draw cannot make one."""
        if noise == "cross_lingual_en":
            form = "en"
        elif noise in ("no_diacritics", "romanized"):
            form = TYPED_FORMS[market]
        elif noise == "code_mixed" and market in ("ur", "bn") and rng.random() < 0.5:
            form = TYPED_FORMS[market]  # Pakistani and Bangladeshi code-mixing is mostly typed in Latin
        else:
            form = market
        english_type = {n.casefold() for n in t.names.en}
        terms = self._term_names(ask)

        type_form, swap = form, None
        if noise == "code_mixed":
            swap = rng.choice(["type", *sorted(terms)])
            type_form = "en" if swap == "type" else form
        names = list(t.names.form(type_form))
        if noise in ("no_diacritics", "romanized"):
            # the typed variant, not a plain English loanword that would make the noise invisible
            native = {n.casefold() for n in t.names.form(market)}
            names = [n for n in names if n.casefold() not in english_type and n.casefold() not in native]
        if noise == "code_mixed" and swap != "type":
            names = [n for n in names if n.casefold() not in english_type]
        names = [n for n in names if self.splitter.wording_split(t.key, n) == split]
        if not names:
            return None
        slots = {"type": rng.choice(names)}

        for slot, term in terms.items():
            if noise == "code_mixed" and slot == swap:
                slots[slot] = rng.choice(term.en)
                continue
            choices = list(term.form(form))
            if noise == "code_mixed":
                choices = [n for n in choices if n.casefold() not in {e.casefold() for e in term.en}]
                if not choices:
                    return None
            slots[slot] = rng.choice(choices)
        if "audience" in slots and _overlaps(slots["audience"], slots["type"]):
            return None
        if ask.brand:
            brand = self.brands[ask.brand]
            use_native = form in brand.native and noise in ("clean", "typo") and rng.random() < 0.3
            slots["brand"] = brand.native[form] if use_native else brand.name
            if ask.model:  # "redmi note 13" is typed as often as "xiaomi redmi note 13"
                slots["brand"] = ask.model if rng.random() < 0.5 else f"{slots['brand']} {ask.model}"

        patterns = self.lex.phrases["en" if form == "en" else market].query_patterns
        text = _fill(rng.choice(patterns), slots).casefold()
        if noise in ("no_diacritics", "romanized"):
            text = strip_diacritics(text)
        if noise == "typo":
            return _typo(text, rng)
        return text

    def make(
        self, market: str, split: str, noise: str, quota: int, rng: random.Random, seen: set[str]
    ) -> list[tuple[str, str, dict[str, int]]]:
        pool = [t for t in self.lex.types if t.sold_in(market) and self.splitter.allows(split, t.key)]
        held = [t for t in pool if t.key in self.splitter.held_out]
        shared = [t for t in pool if t.key not in self.splitter.held_out]
        made: list[tuple[str, str, dict[str, int]]] = []
        attempts = 0
        while len(made) < quota:
            attempts += 1
            if attempts > quota * 500:
                raise RuntimeError(f"could not fill {market}/{split}/{noise}: {len(made)} of {quota}")
            t = rng.choice(held if held and rng.random() < 0.35 else shared)
            ask = self._ask(rng, market, t, need_attribute=noise == "code_mixed")
            if ask is None:
                continue
            text = self._text(rng, market, noise, split, t, ask)
            if not text or text in seen or not self.splitter.claim(split, text):
                continue
            seen.add(text)
            made.append((text, noise, _judge(self.lex, self.by_type, market, ask)))
        return made


def generate_queries(lex: Lexicon, listings: dict[str, list[Listing]], seed: int) -> dict[str, list[Query]]:
    splitter = _Splitter.build(lex, seed)
    maker = _QueryMaker(lex, listings, splitter)
    out: dict[str, list[Query]] = {split: [] for split in SPLITS}
    for market in MARKETS:
        rng = _stream(seed, "queries", market)
        noises = NOISES_BY_MARKET[market]
        for split in SPLITS:
            seen: set[str] = set()
            rows: list[tuple[str, str, dict[str, int]]] = []
            total = QUERIES_PER_MARKET[split]
            for i, noise in enumerate(noises):
                quota = total // len(noises) + (1 if i < total % len(noises) else 0)
                rows += maker.make(market, split, noise, quota, rng, seen)
            rng.shuffle(rows)
            out[split] += [
                Query(id=f"{market}-{split}-{n:04d}", text=text, language=market, noise=noise, relevant=relevant)
                for n, (text, noise, relevant) in enumerate(rows, start=1)
            ]
    return out


def more_train_queries(per_noise: int, seed: int, held_texts: Iterable[str] = ()) -> list[tuple[str, str, str]]:
    """Unlabelled (text, market, noise) queries beyond queries.train.jsonl, under the train side of the split rule.

    The split is the bundled catalogue's (``DEFAULT_SEED``): held-out types stay out, every wording hashes as it
    does for the files, and ``held_texts`` (the dev and test query texts) are claimed by dev first, so no text
    here equals a dev or test query up to case and diacritics. ``seed`` only drives which asks are drawn.
    """
    lex = load_lexicon()
    splitter = _Splitter.build(lex, DEFAULT_SEED)
    for text in held_texts:
        splitter.claim("dev", text)
    maker = _QueryMaker(lex, generate_products(lex, DEFAULT_SEED), splitter)
    out: list[tuple[str, str, str]] = []
    for market in MARKETS:
        rng = _stream(seed, "more-train", market)
        seen: set[str] = set()
        for noise in NOISES_BY_MARKET[market]:
            try:
                made = maker.make(market, "train", noise, per_noise, rng, seen)
            except RuntimeError:  # this noise's wordings ran out before the quota (it says so); the others go on
                continue
            out += [(text, market, noise) for text, noise, _ in made]
    return out


# ---------------------------------------------------------------- files


def _write_jsonl(path: Path, rows: Sequence[BaseModel]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row.model_dump(), ensure_ascii=False, separators=(",", ":")) + "\n")


def generate(out_dir: Path = DEFAULT_OUT, seed: int = DEFAULT_SEED) -> Summary:
    """Write products.jsonl and queries.{train,dev,test}.jsonl into ``out_dir``; return the counts."""
    lex = load_lexicon()
    listings = generate_products(lex, seed)
    queries = generate_queries(lex, listings, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out_dir / "products.jsonl", [row.product for lang in LANGUAGES for row in listings[lang]])
    for split, rows in queries.items():
        _write_jsonl(out_dir / f"queries.{split}.jsonl", rows)
    summary = Summary()
    for lang in LANGUAGES:
        summary.products[lang] = len(listings[lang])
    for split, rows in queries.items():
        for q in rows:
            summary.queries[split][q.language] += 1
            summary.noise[(split, q.language)][q.noise] += 1
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(generate(args.out, args.seed).render())


if __name__ == "__main__":
    main()
