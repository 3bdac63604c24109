"""The product catalogue: row schema and a reader that reports bad rows and keeps going."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.settings import LANGUAGES

MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 5000


class Product(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=128)
    language: str
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str = Field("", max_length=MAX_DESCRIPTION_CHARS)
    category: str = Field(min_length=1, description='English path "A > B > C".')
    brand: str = ""
    price: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        if v not in LANGUAGES:
            raise ValueError(f"unknown language {v!r}; expected one of {', '.join(LANGUAGES)}")
        return v

    @field_validator("category")
    @classmethod
    def _category_path(cls, v: str) -> str:
        parts = [p.strip() for p in v.split(">")]
        if any(not p for p in parts):
            raise ValueError(f'category {v!r} must be a path like "A > B > C" with no empty part')
        return " > ".join(parts)

    def category_prefixes(self) -> list[str]:
        """Every ancestor path, so a filter on "Electronics" also matches "Electronics > Phones"."""
        parts = self.category.split(" > ")
        return [" > ".join(parts[: i + 1]) for i in range(len(parts))]

    def passage_text(self) -> str:
        """What the encoder sees for this product."""
        text = self.title
        if self.brand and self.brand.lower() not in self.title.lower():
            text = f"{self.brand} {text}"
        if self.description:
            text = f"{text}. {self.description}"
        return text

    def payload(self) -> dict:
        return {
            "id": self.id,
            "language": self.language,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "category_prefixes": self.category_prefixes(),
            "brand": self.brand,
            "price": self.price,
            "currency": self.currency,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"catalogue line {self.line}: {self.message}"


@dataclass
class CatalogueReport:
    products: list[Product] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    sha256: str = ""

    @property
    def skipped(self) -> int:
        return len(self.errors)


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "row"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


ATTRIBUTE_COLUMN = "attributes."  # a CSV column "attributes.colour" is the attribute "colour"


def _csv_row(header: list[str], fields: list[str]) -> dict | str:
    """A CSV record as a catalogue row object, or why it is not one."""
    if len(fields) > len(header):
        return f"{len(fields) - len(header)} more fields than the header has columns"
    if len(fields) < len(header):
        return "fewer fields than the header has columns"
    obj: dict = {}
    attributes: dict[str, str] = {}
    for key, value in zip(header, fields, strict=True):
        if any(0xDC80 <= ord(c) <= 0xDCFF for c in value):
            return f"{key}: not valid UTF-8"
        if key.startswith(ATTRIBUTE_COLUMN):
            if value.strip():
                attributes[key[len(ATTRIBUTE_COLUMN) :]] = value
        elif key == "attributes":
            if value.strip():
                try:
                    parsed = json.loads(value)
                except json.JSONDecodeError as exc:
                    return f"attributes: not a JSON object ({exc.msg})"
                if not isinstance(parsed, dict):
                    return "attributes: not a JSON object"
                attributes.update(parsed)
        elif value.strip() or key not in _OPTIONAL:
            obj[key] = value
    if attributes:
        obj["attributes"] = attributes
    return obj


_OPTIONAL = frozenset({"description", "brand"})  # an empty CSV cell is the field left out


def _iter_csv(path: Path) -> Iterator[tuple[int, Product | RowError]]:
    """``iter_rows`` of a CSV file: the header row names the fields (``attributes.NAME`` columns, or one
    ``attributes`` column holding a JSON object); a record is numbered by the line it starts on."""
    # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first column's name; bytes that are not
    # UTF-8 are kept as surrogates and reported on their row
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        start = 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, RowError(start, f"unreadable CSV record ({exc})")
                start = reader.line_num + 1
                continue
            lineno, start = start, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if header is None:
                header = [f.strip() for f in fields]
                twice = sorted({c for c in header if header.count(c) > 1})
                if twice:
                    yield lineno, RowError(lineno, f"the header names a column twice: {twice}; nothing read")
                    return
                continue
            obj = _csv_row(header, fields)
            if isinstance(obj, str):
                yield lineno, RowError(lineno, obj)
                continue
            try:
                yield lineno, Product.model_validate(obj)
            except ValidationError as exc:
                yield lineno, RowError(lineno, _describe(exc))


def iter_rows(path: Path) -> Iterator[tuple[int, Product | RowError]]:
    """Yield (line number, product or error) for every non-blank line (JSON Lines) or record (``.csv``: the header
    row names the fields); never raises on a bad row."""
    if Path(path).suffix.lower() == ".csv":
        yield from _iter_csv(path)
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield lineno, RowError(lineno, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield lineno, RowError(lineno, f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield lineno, RowError(lineno, "a row must be a JSON object")
                continue
            try:
                yield lineno, Product.model_validate(obj)
            except ValidationError as exc:
                yield lineno, RowError(lineno, _describe(exc))


def read_catalogue(path: Path) -> CatalogueReport:
    """Validate the whole catalogue: bad rows and duplicate ids are reported and skipped."""
    report = CatalogueReport()
    seen: dict[str, int] = {}
    for lineno, item in iter_rows(path):
        if isinstance(item, RowError):
            report.errors.append(item)
        elif item.id in seen:
            report.errors.append(RowError(lineno, f"duplicate id {item.id!r} (first seen on line {seen[item.id]})"))
        else:
            seen[item.id] = lineno
            report.products.append(item)
    report.sha256 = file_sha256(path)
    return report


def content_hash(passage_text: str, model_fingerprint: str) -> str:
    """What decides a product's vector: the model and the text it encodes (``Product.passage_text``). Price or
    category changes keep it (the indexer copies the vector of an unchanged hash)."""
    text = f"{model_fingerprint}\x00{passage_text}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
