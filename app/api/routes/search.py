from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.api.deps import AdminAccess, SearchAccess, SearcherDep
from app.api.errors import ApiError
from app.api.schemas import (
    EncodeRequest,
    EncodeResponse,
    Problem,
    Product,
    ProductDeleted,
    ProductResponse,
    ProductsWrite,
    ProductsWritten,
    RowProblem,
    SearchRequest,
    SearchResponse,
    Suggestion,
    SuggestResponse,
)
from core.catalogue import Product as CatalogueRow
from core.settings import LANGUAGES

router = APIRouter(prefix="/v1", tags=["search"])

_AUTH: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Body is not readable (e.g. not UTF-8)"},
    401: {"model": Problem, "description": "Missing or unknown API key (when keys are required)"},
    413: {"model": Problem, "description": "Request body too large"},
    422: {"model": Problem, "description": "Invalid request"},
    429: {"model": Problem, "description": "Rate limit exceeded (see Retry-After)"},
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    **_AUTH,
    503: {"model": Problem, "description": "Store or index unavailable"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"model": Problem, "description": "Not an admin key, or admin endpoints disabled (LIRA_ADMIN_API_KEYS)"},
}


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
async def search(req: SearchRequest, searcher: SearcherDep, _: SearchAccess) -> SearchResponse:
    """Semantic product search across the seven markets' catalogues and English."""
    return await searcher.search(req)


@router.get("/suggest", response_model=SuggestResponse, responses=_ERRORS)
async def suggest(
    searcher: SearcherDep,
    _: SearchAccess,
    q: Annotated[str, Query(min_length=1, max_length=100, description="What is typed so far.")],
    languages: Annotated[
        str | None,
        Query(description=f"Comma-separated market languages ({', '.join(LANGUAGES)}); default: all."),
    ] = None,
    k: Annotated[int, Query(ge=1, le=10, description="Completions wanted, 1–10.")] = 10,
) -> SuggestResponse:
    """Completions of a partly typed query: title phrases, brands and categories of the serving index, matched
    without regard to case or diacritics, and romanised for Thai, Urdu and Bengali listings."""
    t0 = time.perf_counter()
    langs = [code.strip() for code in languages.split(",") if code.strip()] if languages else None
    unknown = [code for code in langs or () if code not in LANGUAGES]
    if unknown or (languages is not None and not langs):
        raise ApiError(
            422,
            "validation_error",
            f"languages: unknown language code(s) {', '.join(unknown) or repr(languages)}; "
            f"valid codes: {', '.join(LANGUAGES)}",
        )
    found = await searcher.suggest(q.strip(), langs, k)
    return SuggestResponse(
        query=q,
        suggestions=[Suggestion.model_validate(vars(c)) for c in found],
        took_ms=round((time.perf_counter() - t0) * 1000, 2),
    )


@router.post("/encode", response_model=EncodeResponse, responses=_AUTH)
async def encode(req: EncodeRequest, searcher: SearcherDep, _: SearchAccess) -> EncodeResponse:
    """Embed 1–64 texts with the serving model (L2-normalised)."""
    vectors = await searcher.encode(req.texts, req.kind)
    return EncodeResponse(vectors=vectors.tolist(), dim=searcher.encoder.dim, model=searcher.encoder.model_id)


@router.get(
    "/products/{product_id}",
    response_model=ProductResponse,
    responses={**_ERRORS, 404: {"model": Problem, "description": "No such product in the serving index"}},
)
async def get_product(
    product_id: Annotated[str, Path(min_length=1, max_length=200)], searcher: SearcherDep, _: SearchAccess
) -> ProductResponse:
    """One product as the serving index holds it, by its catalogue id."""
    payload, version = await searcher.product(product_id)
    if payload is None:
        raise ApiError(404, "product_not_found", f"no product {product_id!r} in the serving index ({version})")
    return ProductResponse(product=Product.model_validate(payload), index_version=str(version))


def _row_problems(i: int, row: dict[str, Any], exc: ValidationError) -> list[RowProblem]:
    pid = row.get("id") if isinstance(row.get("id"), str) else None
    return [
        RowProblem(row=i, id=pid, field=".".join(str(x) for x in e["loc"]) or "row", message=e["msg"])
        for e in exc.errors()
    ]


@router.post(
    "/products",
    response_model=ProductsWritten,
    responses={
        **_WRITE_ERRORS,
        422: {"model": Problem, "description": "Some rows are invalid: the valid ones were written (see written)"},
    },
    tags=["products"],
)
async def write_products(req: ProductsWrite, searcher: SearcherDep, _: AdminAccess) -> Any:
    """Add or replace 1–1,000 products, validated like catalogue rows. Each is durable (journaled and fsync-ed)
    before the answer, searched at once, and kept by the next batch reindex (it merges the journal). A bad row is
    named with its field and skipped; the good rows are still written (422, with ``written``)."""
    good: list[CatalogueRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(req.products):
        try:
            product = CatalogueRow.model_validate(row)
        except ValidationError as exc:
            problems += _row_problems(i, row, exc)
            continue
        if product.id in seen:
            message = f"duplicate id {product.id!r} (row {seen[product.id]} has it)"
            problems.append(RowProblem(row=i, id=product.id, field="id", message=message))
            continue
        seen[product.id] = i
        good.append(product)
    version = await searcher.write_products(good) if good else await searcher.serving_version()
    body = ProductsWritten(written=[p.id for p in good], errors=problems, index_version=str(version))
    if not problems:
        return body
    return JSONResponse(
        status_code=422,
        content={
            "error": "invalid_rows",
            "message": f"{len(problems)} problem(s) in {len({p.row for p in problems})} row(s); "
            f"{len(good)} row(s) written",
            "details": [p.model_dump() for p in problems],
            **body.model_dump(),
        },
    )


@router.delete(
    "/products/{product_id}",
    response_model=ProductDeleted,
    responses={**_WRITE_ERRORS, 404: {"model": Problem, "description": "No such product in the serving index"}},
    tags=["products"],
)
async def delete_product(
    product_id: Annotated[str, Path(min_length=1, max_length=200)], searcher: SearcherDep, _: AdminAccess
) -> ProductDeleted:
    """Remove a product: durable before the answer, gone from searches at once and from the next reindex."""
    found, version = await searcher.delete_product(product_id)
    if not found:
        raise ApiError(404, "product_not_found", f"no product {product_id!r} in the serving index ({version})")
    return ProductDeleted(deleted=product_id, index_version=str(version))
