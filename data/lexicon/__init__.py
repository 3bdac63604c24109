"""The hand-written multilingual product lexicon: product types, attributes, brands and listing phrases.

The YAML files beside this module are the source of truth (``types/*.yaml`` one per top category,
``attributes.yaml``, ``brands.yaml``, ``phrases.yaml``). Every name was written by hand, including the
romanised forms people actually type (``vi_plain``, ``th_latn``, ``ur_latn``, ``bn_latn``), because
machine romanisers produce spellings shoppers never use. ``load_lexicon`` validates strictly (every
name form present, every cross-reference resolvable) so a slip in the YAML fails loudly instead of
silently thinning the generated catalogue.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.settings import LANGUAGES

LEXICON_DIR = Path(__file__).resolve().parent

# Every name list carries these forms: the eight languages plus the romanised/plain variants people type.
NAME_FORMS: tuple[str, ...] = (
    "en",
    "vi",
    "vi_plain",
    "th",
    "th_latn",
    "id",
    "ms",
    "tl",
    "ur",
    "ur_latn",
    "bn",
    "bn_latn",
)
# The variant typed on a Latin keyboard for each language that has one.
TYPED_FORMS: dict[str, str] = {"vi": "vi_plain", "th": "th_latn", "ur": "ur_latn", "bn": "bn_latn"}
LANGUAGE_FORMS: dict[str, tuple[str, ...]] = {
    lang: (lang, TYPED_FORMS[lang]) if lang in TYPED_FORMS else (lang,) for lang in LANGUAGES
}
NATIVE_SCRIPT_RANGES: dict[str, tuple[int, int]] = {
    "th": (0x0E00, 0x0E7F),
    "ur": (0x0600, 0x06FF),
    "bn": (0x0980, 0x09FF),
}
TITLE_SLOTS = frozenset({"type", "audience", "brand", "model", "material", "colour", "spec", "size", "tag"})
# A query pattern must place every constraint a query can carry, or its relevance grades would not match its text.
QUERY_SLOTS = frozenset({"type", "audience", "brand", "colour", "material"})
SLOT = re.compile(r"\{(\w+)\}")


class LexiconError(ValueError):
    """The lexicon YAML is malformed or inconsistent."""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _as_text(value: Any) -> Any:
    """YAML reads ``42`` or ``1.8`` as numbers; sizes and spec values are labels, so keep them as text."""
    if isinstance(value, bool):
        return value  # left for pydantic to reject: a bare yes/no in YAML is a slip, not a label
    if isinstance(value, (int, float)):
        return str(value)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Frozen):
    """Names per form; the first is canonical (what a listing would print), the rest are synonyms people type."""

    en: tuple[str, ...] = Field(min_length=1)
    vi: tuple[str, ...] = Field(min_length=1)
    vi_plain: tuple[str, ...] = Field(min_length=1)
    th: tuple[str, ...] = Field(min_length=1)
    th_latn: tuple[str, ...] = Field(min_length=1)
    id: tuple[str, ...] = Field(min_length=1)
    ms: tuple[str, ...] = Field(min_length=1)
    tl: tuple[str, ...] = Field(min_length=1)
    ur: tuple[str, ...] = Field(min_length=1)
    ur_latn: tuple[str, ...] = Field(min_length=1)
    bn: tuple[str, ...] = Field(min_length=1)
    bn_latn: tuple[str, ...] = Field(min_length=1)

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, v: Any) -> Any:
        if not isinstance(v, (list, tuple)):
            return v
        out = [_nfc(x) if isinstance(x, str) else _as_text(x) for x in v]
        if any(isinstance(x, str) and not x for x in out):
            raise ValueError("empty name")
        if len({x for x in out if isinstance(x, str)}) != len(out):
            raise ValueError(f"duplicate name in {out}")
        return out

    @model_validator(mode="after")
    def _typed_forms_ascii(self) -> Names:
        for form in TYPED_FORMS.values():
            bad = [n for n in self.form(form) if not n.isascii()]
            if bad:
                raise ValueError(f"{form} must be typed on a Latin keyboard (ASCII): {bad}")
        return self

    def form(self, form: str) -> tuple[str, ...]:
        return getattr(self, form)

    def canonical(self, form: str) -> str:
        return self.form(form)[0]


class Term(_Frozen):
    """An attribute value (colour, material, audience, size, unit) with its names."""

    key: str
    names: Names
    attach: bool = False  # units only: printed glued to the number ("128GB") when the unit is Latin


class Spec(_Frozen):
    unit: str
    values: tuple[str, ...] = Field(min_length=1)

    @field_validator("values", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return [_as_text(x) for x in v] if isinstance(v, list) else v


class ProductType(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    path: str
    names: Names
    brands: str | None = None
    colours: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    sizes: str | None = None
    specs: dict[str, Spec] = Field(default_factory=dict)
    price: tuple[float, float]
    markets: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    substitutes: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _gather_names(cls, data: Any) -> Any:
        """The YAML lists name forms inline on the type; gather them into ``names``."""
        if isinstance(data, dict) and "names" not in data:
            data = dict(data)
            data["names"] = {form: data.pop(form) for form in NAME_FORMS if form in data}
        return data

    @field_validator("names")
    @classmethod
    def _native_canonical(cls, v: Names) -> Names:
        """A type's canonical Thai/Urdu/Bengali name is what listings print, so it must be in the native script."""
        for form, (lo, hi) in NATIVE_SCRIPT_RANGES.items():
            canonical = v.canonical(form)
            if not any(lo <= ord(c) <= hi for c in canonical):
                raise ValueError(f"{form} canonical name {canonical!r} is not in the native script")
        return v

    @field_validator("path")
    @classmethod
    def _three_levels(cls, v: str) -> str:
        parts = [p.strip() for p in v.split(">")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f'path {v!r} must be "Top > Sub > Type"')
        return " > ".join(parts)

    @field_validator("price")
    @classmethod
    def _price_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"price range {v} must be 0 < low <= high (USD)")
        return v

    @property
    def top(self) -> str:
        return self.path.split(" > ")[0]

    def sold_in(self, language: str) -> bool:
        """English listings carry every type; a regional type (ao dai, cricket bat) is sold only in its markets."""
        return language == "en" or not self.markets or language in self.markets


class Brand(_Frozen):
    name: str
    models: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    native: dict[str, str] = Field(default_factory=dict)

    def sold_in(self, language: str) -> bool:
        return language == "en" or not self.markets or language in self.markets


class SizeScheme(_Frozen):
    labelled: bool  # "Size 42" / "ไซส์ M" rather than a bare name like "Queen"
    values: tuple[str, ...] = Field(min_length=1)

    @field_validator("values", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        return [_as_text(x) for x in v] if isinstance(v, list) else v


class Description(_Frozen):
    intro_brand: tuple[str, ...] = Field(min_length=1)
    intro_plain: tuple[str, ...] = Field(min_length=1)
    material: tuple[str, ...] = Field(min_length=1)
    colour: tuple[str, ...] = Field(min_length=1)
    closing: tuple[str, ...] = Field(min_length=1)


class Phrases(_Frozen):
    """How one language writes listings and queries (slot patterns, seller tags, description sentences)."""

    latin: bool  # title-cased listing style applies
    title_patterns: tuple[str, ...] = Field(min_length=1)
    query_patterns: tuple[str, ...] = Field(min_length=1)
    slot_formats: dict[str, str] = Field(default_factory=dict)
    tags: tuple[str, ...] = Field(min_length=1)
    description: Description

    @model_validator(mode="after")
    def _slots(self) -> Phrases:
        for pattern in self.title_patterns:
            slots = set(SLOT.findall(pattern))
            if "type" not in slots or not slots <= TITLE_SLOTS:
                raise ValueError(f"title pattern {pattern!r} needs {{type}} and only slots from {sorted(TITLE_SLOTS)}")
        for pattern in self.query_patterns:
            if sorted(SLOT.findall(pattern)) != sorted(QUERY_SLOTS):
                raise ValueError(f"query pattern {pattern!r} must use each of {sorted(QUERY_SLOTS)} once")
        return self


class Lexicon(_Frozen):
    types: tuple[ProductType, ...]
    colours: dict[str, Term]
    materials: dict[str, Term]
    audiences: dict[str, Term]
    sizes: dict[str, Term]
    units: dict[str, Term]
    size_schemes: dict[str, SizeScheme]
    brand_groups: dict[str, tuple[Brand, ...]]
    phrases: dict[str, Phrases]

    @model_validator(mode="after")
    def _references(self) -> Lexicon:
        errors: list[str] = []
        keys = [t.key for t in self.types]
        paths = [t.path for t in self.types]
        for label, values in (("type key", keys), ("category path", paths)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                errors.append(f"duplicate {label}: {dupes}")
        known = set(keys)
        group_users: dict[str, int] = {}
        for t in self.types:
            where = f"type {t.key}"
            for ref in (*t.complements, *t.substitutes):
                if ref not in known or ref == t.key:
                    errors.append(f"{where}: bad complement/substitute {ref!r}")
            if set(t.complements) & set(t.substitutes):
                errors.append(f"{where}: a type cannot be both complement and substitute")
            for keys, table in (
                (t.colours, self.colours),
                (t.materials, self.materials),
                (t.audiences, self.audiences),
            ):
                errors += [f"{where}: unknown attribute value {k!r}" for k in keys if k not in table]
            if t.sizes is not None and t.sizes not in self.size_schemes:
                errors.append(f"{where}: unknown size scheme {t.sizes!r}")
            errors += [f"{where}: unknown unit {s.unit!r}" for s in t.specs.values() if s.unit not in self.units]
            errors += [f"{where}: unknown market {m!r}" for m in t.markets if m not in LANGUAGES]
            if t.brands is not None:
                if t.brands not in self.brand_groups:
                    errors.append(f"{where}: unknown brand group {t.brands!r}")
                group_users[t.brands] = group_users.get(t.brands, 0) + 1
        for name, brands in self.brand_groups.items():
            if group_users.get(name, 0) > 1 and any(b.models for b in brands):
                errors.append(f"brand group {name!r} has model names but serves several types")
            if name not in group_users:
                errors.append(f"brand group {name!r} is never used")
        missing = sorted(set(LANGUAGES) - set(self.phrases))
        if missing:
            errors.append(f"phrases missing for {missing}")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def type(self, key: str) -> ProductType:
        for t in self.types:
            if t.key == key:
                return t
        raise KeyError(key)

    def complements_of(self, key: str) -> tuple[str, ...]:
        """Complements are symmetric (phone case ↔ smartphone) whichever side the YAML lists them on."""
        return self._related(key, "complements")

    def substitutes_of(self, key: str) -> tuple[str, ...]:
        """Substitutes are symmetric (sneakers ~ running shoes) whichever side the YAML lists them on."""
        return self._related(key, "substitutes")

    def _related(self, key: str, field: str) -> tuple[str, ...]:
        return self._relations[field].get(key, ())

    @cached_property
    def _relations(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Both relations closed under symmetry, computed once: relevance judging asks for them per query."""
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for field in ("complements", "substitutes"):
            links: dict[str, set[str]] = {t.key: set() for t in self.types}
            for t in self.types:
                for other in getattr(t, field):
                    links[t.key].add(other)
                    links[other].add(t.key)
            out[field] = {key: tuple(sorted(values)) for key, values in links.items()}
        return out

    def brands_for(self, product_type: ProductType, language: str) -> tuple[Brand, ...]:
        if product_type.brands is None:
            return ()
        return tuple(b for b in self.brand_groups[product_type.brands] if b.sold_in(language))

    def attribute_terms(self) -> Iterator[Term]:
        for table in (self.colours, self.materials, self.audiences, self.sizes, self.units):
            yield from table.values()


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader that refuses duplicate keys, which plain YAML silently resolves to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise LexiconError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        try:
            return yaml.load(fh, Loader=_StrictLoader)
        except LexiconError as exc:
            raise LexiconError(f"{path.name}: {exc}") from exc


def _terms(raw: dict[str, Any], section: str) -> dict[str, Term]:
    out = {}
    for key, value in raw[section].items():
        value = dict(value)
        attach = value.pop("attach", False)
        out[str(key)] = {"key": str(key), "names": value, "attach": attach}
    return out


def _brands(raw: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    markets = raw.get("markets", {})
    native = raw.get("native", {})
    unknown = sorted((set(markets) | set(native)) - {b for g in raw["groups"].values() for b in g})
    if unknown:
        raise LexiconError(f"brands.yaml: markets/native given for brands in no group: {unknown}")
    return {
        group: [
            {"name": name, "models": models or [], "markets": markets.get(name, []), "native": native.get(name, {})}
            for name, models in brands.items()
        ]
        for group, brands in raw["groups"].items()
    }


@lru_cache
def load_lexicon(directory: Path = LEXICON_DIR) -> Lexicon:
    """Read and validate the lexicon; raises ``LexiconError`` naming the file and the problem."""
    attributes = _read_yaml(directory / "attributes.yaml")
    types: list[Any] = []
    for path in sorted((directory / "types").glob("*.yaml")):
        raw = _read_yaml(path)
        top = raw["top"]
        for entry in raw["types"]:
            if entry.get("colours") is True:
                entry["colours"] = list(attributes["colours"])
            if not str(entry.get("path", "")).startswith(f"{top} >"):
                raise LexiconError(f"{path.name}: type {entry.get('key')!r} path is not under top category {top!r}")
            types.append(entry)
    try:
        return Lexicon.model_validate(
            {
                "types": types,
                "colours": _terms(attributes, "colours"),
                "materials": _terms(attributes, "materials"),
                "audiences": _terms(attributes, "audiences"),
                "sizes": _terms(attributes, "sizes"),
                "units": _terms(attributes, "units"),
                "size_schemes": attributes["size_schemes"],
                "brand_groups": _brands(_read_yaml(directory / "brands.yaml")),
                "phrases": _read_yaml(directory / "phrases.yaml"),
            }
        )
    except ValidationError as exc:
        raise LexiconError(str(exc)) from exc


def term_pairs(language: str, lexicon: Lexicon | None = None) -> list[tuple[str, str]]:
    """(term as written in ``language``, English canonical term) over every type, attribute and brand spelling.

    Romanised/plain forms are included (``vi_plain`` for vi, ``th_latn`` for th, ...) because that is how
    many queries arrive. For English the pairs map synonyms to the canonical name. Sorted and de-duplicated.
    """
    if language not in LANGUAGE_FORMS:
        raise ValueError(f"unknown language {language!r}")
    lex = lexicon or load_lexicon()
    pairs: set[tuple[str, str]] = set()
    named = [(t.names, t.names.canonical("en")) for t in lex.types]
    named += [(term.names, term.names.canonical("en")) for term in lex.attribute_terms()]
    for names, english in named:
        for form in LANGUAGE_FORMS[language]:
            pairs.update((term, english) for term in names.form(form))
    for brands in lex.brand_groups.values():
        pairs.update((b.native[language], b.name) for b in brands if language in b.native)
    return sorted(pairs)
