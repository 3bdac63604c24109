"""Request and response bodies of the public API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from core.settings import LANGUAGES

MAX_QUERY_CHARS = 512


class SearchRequest(BaseModel):
    query: str = Field(description="What the shopper typed, any of the supported languages or scripts.",
                       examples=["giày thể thao nam"])
    k: int = Field(10, ge=1, le=100, description="Number of results, 1–100.")
    languages: list[str] | None = Field(None, description=f"Only products in these languages ({', '.join(LANGUAGES)}).")
    category: str | None = Field(None, description='Category path or prefix, e.g. "Fashion" or "Fashion > Shoes".')
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)

    @field_validator("query")
    @classmethod
    def _query_text(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("query must not be empty")
        if len(v) > MAX_QUERY_CHARS:
            raise ValueError(f"query is {len(v)} characters; the limit is {MAX_QUERY_CHARS}")
        return v

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("languages must not be an empty list; omit it to search all languages")
        unknown = [code for code in v if code not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language code(s) {', '.join(unknown)}; valid codes: {', '.join(LANGUAGES)}")
        return list(dict.fromkeys(v))

    @field_validator("category")
    @classmethod
    def _category(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = [p.strip() for p in v.split(">")]
        if any(not p for p in parts):
            raise ValueError('category must be a path like "Fashion > Shoes" with no empty part')
        return " > ".join(parts)

    @model_validator(mode="after")
    def _price_range(self) -> SearchRequest:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError(f"min_price ({self.min_price}) must not exceed max_price ({self.max_price})")
        return self


class SearchResult(BaseModel):
    id: str
    title: str
    language: str
    category: str
    brand: str
    price: float
    currency: str
    score: float


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    took_ms: float
    index_version: str
    model: str


class EncodeRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=64, description="1–64 texts.")
    kind: Literal["query", "passage"] = "query"

    @field_validator("texts")
    @classmethod
    def _texts(cls, v: list[str]) -> list[str]:
        for i, t in enumerate(v):
            if not t.strip():
                raise ValueError(f"texts[{i}] is empty")
            if len(t) > MAX_QUERY_CHARS * 4:
                raise ValueError(f"texts[{i}] is {len(t)} characters; the limit is {MAX_QUERY_CHARS * 4}")
        return v


class EncodeResponse(BaseModel):
    vectors: list[list[float]]
    dim: int
    model: str


class Problem(BaseModel):
    error: str
    message: str
    details: list[dict] | None = None


class ReadyResponse(BaseModel):
    ready: bool
    reasons: list[str] = []
    index_version: str | None = None


class InfoResponse(BaseModel):
    model: str
    model_fingerprint: str
    dim: int
    store: str
    index_version: str | None
    documents: int
    documents_per_language: dict[str, int]
