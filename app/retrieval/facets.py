"""Facet counts, price buckets and price order over a query's matches (``VectorStore.matches``).

A search's *matches* are the products that pass its filters and are close enough to the query on either side: among
its dense top ``LIRA_MATCH_WINDOW``, within ``LIRA_MATCH_DENSE_MARGIN`` of the best cosine; among the products
sharing its lexical terms (after spelling corrections, translations and synonyms), at least
``LIRA_MATCH_LEXICAL_RATIO`` of the best BM25 score. They are the set ``total`` counts, facets count over, and a
price sort orders. Counting happens here, over the payloads the engine
returned, so both engines count alike.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

FACET_FIELDS = ("category", "brand", "language", "price")


def price_bucket(price: float) -> tuple[float, float]:
    """The 1-2-5 bucket ``[low, high)`` holding ``price`` (below 1: ``[0, 1)``): the same edges in every currency,
    so a bucket reads as a price range whatever the market."""
    if price < 1:
        return 0.0, 1.0
    decade = 10.0 ** math.floor(math.log10(price))
    if price >= 10 * decade:  # log10 rounding just below a power of ten
        decade *= 10
    m = price / decade
    low, high = (1, 2) if m < 2 else (2, 5) if m < 5 else (5, 10)
    return float(low * decade), float(high * decade)


def _bucket_label(currency: str, low: float, high: float) -> str:
    return f"{currency} {low:,.0f}–{high:,.0f}"


def facet_counts(payloads: Iterable[dict], fields: Sequence[str], size: int) -> dict[str, list[dict]]:
    """For each of ``fields``: its values among ``payloads`` with their counts, most frequent first (ties by value),
    at most ``size``. ``price`` gives buckets per currency (value "USD 10–20", with ``currency``, ``min`` and
    ``max``), in price order; an empty brand is not a value."""
    rows = list(payloads)
    out: dict[str, list[dict]] = {}
    for field in fields:
        if field == "price":
            buckets: Counter[tuple[str, float, float]] = Counter()
            for p in rows:
                if p.get("price") is None:
                    continue
                low, high = price_bucket(float(p["price"]))
                buckets[(p.get("currency", ""), low, high)] += 1
            ordered = sorted(buckets.items(), key=lambda kv: (kv[0][0], kv[0][1]))
            out[field] = [
                {"value": _bucket_label(cur, low, high), "count": n, "currency": cur, "min": low, "max": high}
                for (cur, low, high), n in ordered
            ][: size * 4]  # a few currencies' ranges
            continue
        counts: Counter[str] = Counter(str(p[field]) for p in rows if p.get(field))
        out[field] = [
            {"value": v, "count": n} for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
        ]
    return out


def by_price(payloads: Sequence[dict], descending: bool, relevance: Sequence[str] = ()) -> list[dict]:
    """``payloads`` ordered by price, one currency after another (prices in two currencies do not compare: the
    currency most of them are in comes first, so a market's own listings lead its English ones), products without
    a price last; equal prices in ``relevance`` order (ids), then in the order given."""
    rank = defaultdict(lambda: len(relevance), {pid: i for i, pid in enumerate(relevance)})
    priced = [p for p in payloads if p.get("price") is not None]
    unpriced = [p for p in payloads if p.get("price") is None]
    counts = Counter(str(p.get("currency", "")) for p in priced)
    order = {c: i for i, (c, _) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))}
    sign = -1.0 if descending else 1.0
    key = lambda p: (order[str(p.get("currency", ""))], sign * float(p["price"]), rank[p["id"]])  # noqa: E731
    return sorted(priced, key=key) + unpriced
