"""Request and response bodies of the public API."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_serializer,
    model_validator,
)

from core.settings import LANGUAGES

MAX_QUERY_CHARS = 512
MAX_TEXT_CHARS = MAX_QUERY_CHARS * 4
_NOT_BLANK = r"\S"  # at least one non-whitespace character

# The validators below give the messages; these schemas tell clients (and schemathesis) the same rules up front.
LanguageList = Annotated[
    list[str],
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "enum": list(LANGUAGES)},
        }
    ),
]
TextList = Annotated[
    list[str],
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": _NOT_BLANK},
        }
    ),
]


# Requests are validated strictly, as their schema says: "10" is no integer and false no price.
_STRICT = ConfigDict(strict=True)


class SearchRequest(BaseModel):
    model_config = _STRICT

    query: str = Field(
        description="What the shopper typed, any of the supported languages or scripts.",
        examples=["giày thể thao nam"],
        json_schema_extra={"minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": _NOT_BLANK},
    )
    k: int = Field(10, ge=1, le=100, description="Number of results, 1–100.")
    languages: LanguageList | None = Field(
        None, description=f"Only products in these languages ({', '.join(LANGUAGES)})."
    )
    category: str | None = Field(None, description='Category path or prefix, e.g. "Fashion" or "Fashion > Shoes".')
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)
    brands: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None,
        max_length=50,
        description="Only products of these brands (exact names as listed, any of them).",
        examples=[["Nike", "Adidas"]],
    )
    attributes: dict[str, list[Annotated[str, Field(min_length=1, max_length=100)]]] | None = Field(
        None,
        description="Only products whose attribute NAME is one of the listed values, for every NAME given "
        '(catalogue rows\' "attributes", exact values), e.g. {"colour": ["black", "white"]}. At most 10 names.',
        examples=[{"colour": ["black"]}],
    )
    offset: int = Field(
        0, ge=0, le=1000, description="Results to skip (paging): a page is results offset+1 … offset+k."
    )
    sort: Literal["relevance", "price_asc", "price_desc"] = Field(
        "relevance",
        description="relevance (the ranking), or the query's matches (see total) by price, cheapest or dearest "
        "first, one currency after another (the currency most matches are in first: a market's own listings lead "
        "its English ones); equal prices in relevance order.",
    )
    facets: list[Literal["category", "brand", "language", "price"]] | None = Field(
        None,
        max_length=4,
        description="Count the query's matches by these fields (price: ranges per currency); the response "
        "then carries facets and total.",
        examples=[["category", "brand", "price"]],
    )
    hybrid: bool | None = Field(
        None,
        description="Fuse lexical (BM25) candidates with the dense ones by reciprocal rank fusion. "
        "Default: the server's LIRA_HYBRID (true).",
    )
    rerank: bool | None = Field(
        None, description="Rescore the top fused candidates with LaSR. Default: the server's LIRA_RERANK (true)."
    )
    explain: bool = Field(False, description="Add each result's dense, lexical, fused and rerank scores.")
    query_language: Annotated[
        str | None, WithJsonSchema({"anyOf": [{"type": "string", "enum": list(LANGUAGES)}, {"type": "null"}]})
    ] = Field(None, description="The language the query is typed in, when the client knows it; detected otherwise.")

    @field_validator("query_language")
    @classmethod
    def _query_language(cls, v: str | None) -> str | None:
        if v is not None and v not in LANGUAGES:
            raise ValueError(f"unknown query_language {v!r}; valid codes: {', '.join(LANGUAGES)}")
        return v

    @field_validator("query")
    @classmethod
    def _query_text(cls, v: str) -> str:
        if len(v) > MAX_QUERY_CHARS:
            raise ValueError(f"query is {len(v)} characters; the limit is {MAX_QUERY_CHARS}")
        v = v.strip()
        if not v:
            raise ValueError("query must not be empty")
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

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if v is None:
            return None
        if len(v) > 10:
            raise ValueError(f"attributes names {len(v)} attributes; the limit is 10")
        for name, values in v.items():
            if not _ATTRIBUTE_NAME.match(name):
                raise ValueError(f"attribute name {name!r} must be 1–64 letters, digits or underscores")
            if not values or len(values) > 50:
                raise ValueError(f"attributes[{name!r}] must list 1–50 values")
        return {name: list(dict.fromkeys(values)) for name, values in v.items()}

    @field_validator("facets")
    @classmethod
    def _facets(cls, v: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(v)) if v else None

    @model_validator(mode="after")
    def _price_range(self) -> SearchRequest:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError(f"min_price ({self.min_price}) must not exceed max_price ({self.max_price})")
        return self


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_EXPLAIN_FIELDS = ("dense_score", "lexical_score", "fused_score", "rerank_score")


class SearchResult(BaseModel):
    id: str
    title: str
    language: str
    category: str
    brand: str
    price: float
    currency: str
    score: float = Field(
        description="What the results are ordered by: the LaSR score when reranked, else the RRF "
        "score (hybrid) or the cosine similarity (dense only). Sorted by price: the product's cosine with the "
        "query when it is a dense match, else its BM25 score."
    )
    dense_score: float | None = Field(None, description="explain: cosine similarity with the query.")
    lexical_score: float | None = Field(
        None, description="explain: BM25 score (null: not among the lexical candidates)."
    )
    fused_score: float | None = Field(None, description="explain: reciprocal-rank-fusion score (hybrid only).")
    rerank_score: float | None = Field(None, description="explain: LaSR score (reranked only).")

    @model_serializer(mode="wrap")
    def _without_empty_explain(self, handler):
        """The explain fields appear only when they carry a value: a plain search stays as small as before."""
        data = handler(self)
        for key in _EXPLAIN_FIELDS:
            if data.get(key) is None:
                data.pop(key, None)
        return data


class VocabularyPairInfo(BaseModel):
    language: str
    term: str = Field(description="The market-language term (or its romanised spelling).")
    english: str = Field(
        description="The English term it was aligned to (the native term itself for a romanised "
        "spelling with no English pair)."
    )
    score: float = Field(
        description="Confidence: CSLS similarity of the two terms' vectors, plus the bonus for a shared category."
    )
    source: str = Field(description='"aligned" (encoder, CSLS mutual nearest neighbours) or "romanised".')


class VocabularyInfo(BaseModel):
    version: str = Field(description="The mining rules' version.")
    terms: dict[str, int] = Field(description="Terms mined per language (English includes the category names).")
    pairs: dict[str, int] = Field(description="Term pairs aligned by the encoder, per market language.")
    cooccurrence: dict[str, int] = Field(
        default_factory=dict,
        description="Title terms paired with the English label (leaf category or attribute "
        "value) they come with, per language (English too: its titles' words for a category name).",
    )
    romanised: dict[str, int] = Field(description="Romanised spellings per language (Thai, Urdu, Bengali).")
    seconds: float = Field(description="How long mining took at index time.")


class FacetValue(BaseModel):
    value: str = Field(description='The field\'s value; for price a range such as "USD 10–20".')
    count: int = Field(description="Matches with this value.")
    currency: str | None = Field(None, description="price: the range's currency.")
    min: float | None = Field(None, description="price: the range's lower bound (included).")
    max: float | None = Field(None, description="price: the range's upper bound (excluded).")

    @model_serializer(mode="wrap")
    def _without_empty(self, handler):
        data = handler(self)
        for key in ("currency", "min", "max"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    offset: int = Field(0, description="Results skipped before this page.")
    sort: str = Field("relevance", description="The order of the results.")
    total: int | None = Field(
        None,
        description="How many products match the query under the filters: of its dense top LIRA_MATCH_WINDOW those "
        "within LIRA_MATCH_DENSE_MARGIN of the best cosine, and the products sharing its lexical terms with at least "
        "LIRA_MATCH_LEXICAL_RATIO of the best BM25 score. Given with facets or a price sort; null otherwise.",
    )
    total_relation: Literal["eq", "gte"] | None = Field(
        None,
        description='"eq": total is exact; "gte": a lower bound (more lexical matches than LIRA_MATCH_LEXICAL_CAP).',
    )
    facets: dict[str, list[FacetValue]] | None = Field(
        None, description="Counts over the matches per requested field, most frequent first (price: by range)."
    )
    took_ms: float
    index_version: str
    model: str
    query_language: str | None = Field(None, description="Given by the client, or detected; null when unsure.")
    query_language_source: Literal["given", "script", "lingua+lexicon", "unknown"]
    hybrid: bool = Field(description="Whether lexical candidates were fused in.")
    reranked: bool = Field(description="Whether LaSR reordered the candidates.")
    reranker: str | None = Field(None, description="The LaSR checkpoint that reranked, if any.")
    spelling: dict[str, str] = Field(
        default_factory=dict,
        description="Query words the index never saw and the indexed words the lexical side also matched.",
    )
    translations: list[str] = Field(
        default_factory=list,
        description="Market-language lexicon terms for the query's English (or romanised) product words, and the "
        "market's other words for its own, also matched lexically (a search filtered to a market with `languages`).",
    )
    synonyms: list[str] = Field(
        default_factory=list,
        description="Terms the merchant's synonym rules (GET /v1/admin/synonyms) added for the query, matched "
        "lexically.",
    )
    vocabulary: list[VocabularyPairInfo] | None = Field(
        None,
        description="With `explain`: the serving catalogue vocabulary's pairs behind the translations and "
        "market names the search added (each with its confidence and how it was mined); null without `explain`.",
    )


class Suggestion(BaseModel):
    text: str = Field(description="The completion, as listings write it (lower-cased for title phrases).")
    kind: Literal["product", "brand", "category"] = Field(
        description="product: the opening phrase of listings' titles; brand; category: a category's name."
    )
    language: str | None = Field(description="The listings' language; null for brands and categories (any market).")
    count: int = Field(description="Listings behind it: what the completions are ordered by.")


class SuggestResponse(BaseModel):
    query: str
    suggestions: list[Suggestion]
    took_ms: float


class SynonymsUpdate(BaseModel):
    model_config = _STRICT

    text: str = Field(
        max_length=2_000_000,
        description='The whole synonyms file (docs/api.md "Synonyms"); replaces the current rules. Empty = no rules.',
    )


class SynonymsInfo(BaseModel):
    path: str | None = Field(description="LIRA_SYNONYMS_PATH; null = rules cannot be saved.")
    rules: dict[str, int] = Field(description="Rules per section (a language code, or all).")
    text: str = Field(description="The rules as written.")


class EncodeRequest(BaseModel):
    model_config = _STRICT

    texts: TextList = Field(min_length=1, max_length=64, description="1–64 texts.")
    kind: Literal["query", "passage"] = "query"

    @field_validator("texts")
    @classmethod
    def _texts(cls, v: list[str]) -> list[str]:
        for i, t in enumerate(v):
            if not t.strip():
                raise ValueError(f"texts[{i}] is empty")
            if len(t) > MAX_TEXT_CHARS:
                raise ValueError(f"texts[{i}] is {len(t)} characters; the limit is {MAX_TEXT_CHARS}")
        return v


class EncodeResponse(BaseModel):
    vectors: list[list[float]]
    dim: int
    model: str


class Product(BaseModel):
    """A product as the serving index holds it (the catalogue row's fields)."""

    id: str
    language: str
    title: str
    description: str = ""
    category: str = ""
    brand: str = ""
    price: float | None = None
    currency: str = ""
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProductsWrite(BaseModel):
    model_config = _STRICT

    products: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description='1–1,000 rows in the catalogue\'s schema (docs/api.md, "Catalogue rows"); a row with a known id '
        "replaces that product.",
        examples=[
            [
                {
                    "id": "vi-900001",
                    "language": "vi",
                    "title": "Giày chạy bộ nam Biti's Hunter X đen",
                    "category": "Shoes > Men's Shoes > Running Shoes",
                    "brand": "Biti's",
                    "price": 899000,
                    "currency": "VND",
                }
            ]
        ],
    )


class RowProblem(BaseModel):
    row: int = Field(description="The row's position in the request's products (0-based).")
    id: str | None = Field(None, description="The row's id, when it has one.")
    field: str = Field(description='The field at fault ("row" for the row as a whole).')
    message: str


class ProductsWritten(BaseModel):
    written: list[str] = Field(description="Ids of the rows written (durable, and searched from now on).")
    errors: list[RowProblem] = Field(default_factory=list, description="The rows not written, and why.")
    index_version: str = Field(description="The serving version they were written into.")


class ProductDeleted(BaseModel):
    deleted: str
    index_version: str


class ProductResponse(BaseModel):
    product: Product
    index_version: str = Field(description="The index version it was read from.")


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
    query_encoding: str = Field(
        description='How queries are encoded besides the model: "view_bound=B" (Arca views pruned, '
        'LIRA_QUERY_VIEW_BOUND), "int8" (quantised query graph, LIRA_QUERY_PRECISION); "exact" for neither. '
        "Passages (the index) are always encoded exactly."
    )
    store: str
    index_version: str | None
    documents: int
    documents_per_language: dict[str, int]
    hybrid_default: bool = Field(description="Whether searches fuse lexical candidates unless they say otherwise.")
    reranker: str | None = Field(None, description="The LaSR checkpoint in use; null when reranking is off.")
    reranker_status: str = Field(description='"ready", or why reranking is unavailable.')
    synonyms: dict[str, int] = Field(
        default_factory=dict, description="Merchant synonym rules in use, per section (a language or all)."
    )
    vocabulary: VocabularyInfo | None = Field(
        None,
        description="The serving index version's catalogue vocabulary (mined from its listings); null when "
        "it has none (LIRA_CATALOGUE_VOCABULARY=false, or not read yet).",
    )


class ReindexRequest(BaseModel):
    model_config = _STRICT

    full: bool = Field(False, description="Re-encode every product instead of reusing unchanged ones' vectors.")


class ReindexStarted(BaseModel):
    pid: int
    full: bool
    catalogue: str
    log: str
    status_url: str


class ReindexProgress(BaseModel):
    done: int
    total: int


class ReindexStatus(BaseModel):
    state: Literal["never_run", "running", "succeeded", "failed", "died", "unknown"] = Field(
        description="died: stopped without finishing (killed or crashed); the previous version kept serving."
    )
    running: bool
    pid: int | None = None
    started: str | None = None
    finished: str | None = None
    launched_by: str | None = None
    full: bool | None = None
    catalogue: str | None = None
    model: str | None = None
    progress: ReindexProgress | None = None
    summary: dict | None = None
    error: str | None = None
    exit_code: int | None = None
    log_tail: list[str] | None = None
    serving_version: str | None = None
