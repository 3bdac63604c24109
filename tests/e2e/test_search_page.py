"""The search page at ``/``: self-contained, and used in headless Chromium against real servers.

Screenshots of every scenario land in ``artifacts/e2e/`` for people to look at."""

from __future__ import annotations

import re

import httpx

try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture skips (or fails under CI) and says why
    expect = None

THAI_QUERY = "นมสด"  # "fresh milk": two of the first 40 Thai products of the catalogue
QUERY = "Uniqlo"  # a brand sold in every market: results in every script


def answered(page, action):
    """Run ``action`` and wait until the search it triggers has been answered and shown; returns the response."""
    with page.expect_response(lambda r: r.url.endswith("/v1/search")) as response:
        action()
    expect(page.locator("#results")).not_to_have_attribute("aria-busy", "true")
    return response.value


def search(page, text: str):
    """Type ``text`` into the box, wait for its results, and leave the box (closing the completions under it, which
    would cover the controls below) as a shopper does who goes on to the filters; returns the search response."""
    response = answered(page, lambda: page.locator("#q").fill(text))
    page.locator("#q").evaluate("e => e.blur()")
    expect(page.locator("#suggestions")).to_be_hidden()
    return response


def broad_query(live_server: str, at_least: int) -> str:
    """A query of the small served index with at least ``at_least`` matches (``total``), for paging and sorting."""
    for text in ("shoes", "phone", "bag", "Samsung", "cream", "Uniqlo"):
        body = {"query": text, "k": 1, "facets": ["language"]}
        if httpx.post(f"{live_server}/v1/search", json=body, timeout=30).json()["total"] >= at_least:
            return text
    raise AssertionError(f"no query with {at_least} matches in the served index")


def chip(page, language: str):
    """A language chip of the search form (the language facet beside the results has buttons of the same names)."""
    return page.get_by_role("group", name="Languages").get_by_role("button", name=language)


def shown(page, attribute: str) -> list[str]:
    return page.locator("#results > li").evaluate_all(f"els => els.map(e => e.{attribute})")


def test_page_is_served_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = sorted(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text))
    assert assets == ["/static/app.js", "/static/style.css"]
    texts = [page.text]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        texts.append(served.text)
    own = str(client.base_url)
    external = [url for text in texts for url in re.findall(r"https?://[^\s\"'<>)]+", text) if not url.startswith(own)]
    assert not external, f"the page must work offline, but it refers to {external}"


def test_thai_query_finds_thai_products(page, live_server, screenshot):
    searches = []
    page.on("request", lambda r: searches.append(r) if r.url.endswith("/v1/search") else None)
    page.goto(live_server)
    response = answered(page, lambda: page.locator("#q").press_sequentially(THAI_QUERY, delay=30))
    assert response.status == 200
    assert len(searches) < len(THAI_QUERY), "typing is debounced: fewer searches than keystrokes"

    languages = shown(page, "dataset.language")
    assert "th" in languages[:3], languages
    expect(page.locator("#results h3[lang=th]", has_text=THAI_QUERY).first).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(re.compile(rf"^\d+ products? for “{THAI_QUERY}”"))
    expect(page.locator("#latency")).to_have_text(re.compile(r"[\d.]+ ms on the server · \d+ ms round trip"))
    version = httpx.get(f"{live_server}/v1/info").json()["index_version"]
    expect(page.locator("#info")).to_contain_text(f"Index {version}")
    screenshot(page, "thai-query")


def test_urdu_chip_shows_right_to_left_results(page, live_server, screenshot):
    page.goto(live_server)
    search(page, QUERY)
    directions = page.locator("#results h3").evaluate_all("els => els.map(e => getComputedStyle(e).direction)")
    languages = shown(page, "dataset.language")
    assert len(set(languages)) > 1, "a page of mixed scripts"
    assert directions == ["rtl" if lang == "ur" else "ltr" for lang in languages]
    screenshot(page, "mixed-scripts")

    urdu = chip(page, "Urdu")
    answered(page, urdu.click)
    expect(urdu).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="All", exact=True)).to_have_attribute("aria-pressed", "false")
    assert set(shown(page, "dataset.language")) == {"ur"}
    directions = page.locator("#results h3").evaluate_all("els => els.map(e => getComputedStyle(e).direction)")
    assert directions and set(directions) == {"rtl"}
    screenshot(page, "urdu-rtl")


def test_price_filter_and_its_validation(page, live_server, screenshot):
    low, high = 100, 2000
    page.goto(live_server)
    search(page, QUERY)

    def set_range():
        page.get_by_label("Min price").fill(str(low))
        page.get_by_label("Max price").fill(str(high))

    answered(page, set_range)
    prices = page.locator("#results .price")
    values = prices.evaluate_all("els => els.map(e => Number(e.dataset.price))")
    assert values and all(low <= v <= high for v in values), values
    for text, value in zip(prices.all_inner_texts(), values, strict=True):
        assert re.sub(r"\D", "", text).startswith(str(int(value))), (text, value)
    screenshot(page, "price-filter")

    # An impossible range: the API's own message, next to the price inputs.
    response = answered(page, lambda: page.get_by_label("Min price").fill(str(high + 1)))
    assert response.status == 422
    expect(page.locator("#price-error")).to_have_text(response.json()["details"][0]["message"])
    expect(page.get_by_label("Min price")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#results > li")).to_have_count(0)
    screenshot(page, "price-error")


def test_keyboard_only(page, live_server, screenshot):
    page.goto(live_server)
    page.keyboard.press("Tab")
    expect(page.locator("#q")).to_be_focused()
    answered(page, lambda: page.keyboard.type(QUERY))
    expect(page.get_by_role("status")).to_contain_text(f"for “{QUERY}”")

    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="All", exact=True)).to_be_focused()
    page.keyboard.press("Tab")
    english = chip(page, "English")
    expect(english).to_be_focused()
    assert english.evaluate("e => getComputedStyle(e).outlineStyle") != "none", "a visible focus outline"
    answered(page, lambda: page.keyboard.press("Enter"))
    expect(english).to_have_attribute("aria-pressed", "true")
    assert set(shown(page, "dataset.language")) == {"en"}

    page.keyboard.press("Tab")
    vietnamese = chip(page, "Vietnamese")
    expect(vietnamese).to_be_focused()
    answered(page, lambda: page.keyboard.press("Space"))
    expect(vietnamese).to_have_attribute("aria-pressed", "true")
    assert "vi" in shown(page, "dataset.language") and set(shown(page, "dataset.language")) <= {"en", "vi"}
    screenshot(page, "keyboard-only")


def test_explain_switch(page, live_server, screenshot):
    assert httpx.post(f"{live_server}/v1/search", json={"query": QUERY, "k": 1, "explain": True}).is_success
    page.goto(live_server)
    search(page, QUERY)
    expect(page.locator("#results .scores")).to_have_count(0)

    switch = page.get_by_role("switch", name="Explain scores")
    answered(page, switch.check)
    expect(switch).to_be_visible()
    expect(page.locator("#results .scores").first).to_contain_text("score")
    screenshot(page, "explain")


def test_unavailable_api_shows_error_state(page, unavailable_server, screenshot):
    page.goto(unavailable_server)
    response = search(page, QUERY)
    assert response.status == 503
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Search is temporarily unavailable")
    expect(alert).to_contain_text(response.json()["message"])
    expect(page.locator("#results > li")).to_have_count(0)
    expect(page.locator("#info")).to_contain_text("No index is being served yet")
    screenshot(page, "unavailable")


def test_a_misspelt_word_is_shown_with_its_match(page, live_server, screenshot):
    page.goto(live_server)
    response = search(page, "tai nghe bluetoth")
    assert response.status == 200
    expect(page.get_by_role("status")).to_contain_text("also matched bluetoth → bluetooth")
    expect(page.locator("#results h3", has_text=re.compile("bluetooth", re.I)).first).to_be_visible()
    screenshot(page, "spelling")


def test_english_words_in_a_market_show_the_market_words_searched(page, live_server, screenshot):
    page.goto(live_server)
    search(page, "air fryer")
    expect(page.get_by_role("status")).not_to_contain_text("also searched as")  # no market chosen
    answered(page, chip(page, "Vietnamese").click)
    expect(page.get_by_role("status")).to_contain_text("also searched as")
    expect(page.get_by_role("status")).to_contain_text("nồi chiên không dầu")
    assert "vi" in shown(page, "dataset.language")
    screenshot(page, "translations")


def test_facet_counts_are_clickable_filters(page, live_server, screenshot):
    page.goto(live_server)
    response = search(page, QUERY)
    body = response.json()
    facets = page.locator("#facets")
    expect(facets).to_be_visible()
    brand = body["facets"]["brand"][0]
    button = facets.locator(f'.facet-value[data-field="brand"][data-value="{brand["value"]}"]')
    expect(button).to_contain_text(str(brand["count"]))
    expect(page.get_by_role("status")).to_have_text(re.compile(rf"^{body['total']:,} products? for “{QUERY}”"))
    screenshot(page, "facets")

    narrowed = answered(page, button.click)
    assert narrowed.request.post_data_json["brands"] == [brand["value"]]
    expect(facets.locator('.facet-value[data-field="brand"][aria-pressed="true"]')).to_have_count(1)
    assert set(shown(page, "querySelector('.vendor')?.textContent")) == {brand["value"]}

    category = narrowed.json()["facets"]["category"][0]["value"]
    answered(page, facets.locator(f'.facet-value[data-field="category"][data-value="{category}"]').click)
    expect(page.get_by_label("Category", exact=True)).to_have_value(category)
    paths = page.locator("#results .category").all_inner_texts()
    assert paths and all(p == category.replace(" > ", " › ") for p in paths), paths
    screenshot(page, "facet-filters")

    answered(page, facets.locator('.facet-value[data-field="brand"][aria-pressed="true"]').click)  # unpick
    expect(facets.locator('.facet-value[data-field="brand"][aria-pressed="true"]')).to_have_count(0)


def test_sort_menu_orders_by_price(page, live_server, screenshot):
    page.goto(live_server)
    search(page, broad_query(live_server, 5))
    response = answered(page, lambda: page.get_by_label("Sort").select_option("price_asc"))
    assert response.request.post_data_json["sort"] == "price_asc"

    def shown_prices() -> list[tuple[str, float]]:
        return page.locator("#results .price").evaluate_all(
            "els => els.map(e => [e.dataset.currency, Number(e.dataset.price)])"
        )

    def by_currency_in_order(rows: list, descending: bool) -> bool:
        currencies = [c for c, _ in rows]
        runs = [c for i, c in enumerate(currencies) if i == 0 or c != currencies[i - 1]]
        return len(runs) == len(set(runs)) and all(  # one run per currency, each in price order
            [p for c2, p in rows if c2 == c] == sorted((p for c2, p in rows if c2 == c), reverse=descending)
            for c in runs
        )

    prices = shown_prices()
    assert len(prices) > 1 and by_currency_in_order(prices, descending=False), prices
    answered(page, lambda: page.get_by_label("Sort").select_option("price_desc"))
    prices = shown_prices()
    assert by_currency_in_order(prices, descending=True), prices
    assert "sort=price_desc" in page.url
    screenshot(page, "sorted-by-price")


def test_next_and_previous_pages(page, live_server, screenshot):
    page.goto(live_server)
    page.get_by_label("Show").select_option("10")  # an empty box: nothing is searched yet
    first = search(page, broad_query(live_server, 15)).json()
    pager = page.get_by_role("navigation", name="Result pages")
    expect(pager).to_be_visible()
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    expect(page.locator("#page-info")).to_have_text(re.compile(r"^Results 1–10 of \d"))
    page_one = shown(page, "querySelector('h3').textContent")

    second = answered(page, page.get_by_role("button", name="Next →").click)
    assert second.request.post_data_json["offset"] == 10
    expect(page.locator("#page-info")).to_have_text(re.compile(r"^Results 11–"))
    counter = page.locator("#results").evaluate("e => getComputedStyle(e).counterReset")
    assert counter == "rank 10", counter  # the shown ranks go on from page one: 11, 12, …
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second.json()["results"]}
    screenshot(page, "page-two")

    answered(page, page.get_by_role("button", name="← Previous").click)
    assert shown(page, "querySelector('h3').textContent") == page_one
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()


def test_suggestions_under_the_box(page, live_server, screenshot):
    page.goto(live_server)
    box = page.locator("#q")
    with page.expect_response(lambda r: "/v1/suggest" in r.url and "q=Uniq" in r.url) as suggested:
        answered(page, lambda: box.press_sequentially("Uniq", delay=20))  # its search answered too: no stray answer
    assert suggested.value.ok
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    option = listbox.get_by_role("option").filter(has_text="Uniqlo").first
    expect(option).to_be_visible()
    screenshot(page, "suggestions")

    options = listbox.get_by_role("option").all_inner_texts()
    for _ in range(1 + next(i for i, t in enumerate(options) if "Uniqlo" in t)):
        box.press("ArrowDown")
    expect(listbox.locator('[aria-selected="true"]')).to_contain_text("Uniqlo")
    response = answered(page, lambda: box.press("Enter"))
    assert response.request.post_data_json["query"] == "Uniqlo"
    expect(box).to_have_value("Uniqlo")
    expect(listbox).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")
