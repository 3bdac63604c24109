// LiRA Search page: search-as-you-type over POST /v1/search, filters, explain mode, index info from /v1/info.
"use strict";

const DEBOUNCE_MS = 250;
const LANGUAGE_NAMES = {
  en: "English", vi: "Vietnamese", th: "Thai", id: "Indonesian",
  ms: "Malay", tl: "Tagalog", ur: "Urdu", bn: "Bengali",
};
// Prices are shown the way the product's market writes them, in Latin digits so they compare at a glance.
const LOCALES = {
  en: "en-US", vi: "vi-VN", th: "th-TH", id: "id-ID", ms: "ms-MY", tl: "fil-PH", ur: "ur-PK", bn: "bn-BD",
};
const RTL_LANGUAGES = new Set(["ur"]);
const SCORE_FIELDS = [["score", "score"], ["dense_score", "dense"], ["lexical_score", "lexical"],
  ["rerank_score", "rerank"]];

const $ = (id) => document.getElementById(id);
const form = $("search-form");
const query = $("q");
const chips = [...document.querySelectorAll("#languages .chip")];
const category = $("category");
const minPrice = $("min-price");
const maxPrice = $("max-price");
const k = $("k");
const explain = $("explain");
const sort = $("sort");
const facetsBox = $("facets");
const pager = $("pager");
const FACETS = ["category", "brand", "language", "price"];
const FACET_TITLES = { category: "Category", brand: "Brand", language: "Language", price: "Price" };
const MAX_OFFSET = 1000;
const statusLine = $("status");
const latency = $("latency");
const alertBox = $("alert");
const empty = $("empty");
const list = $("results");

// Where the API's 422 details are shown: request field -> [error element, inputs marked invalid].
const FIELDS = {
  query: ["q-error", [query]],
  languages: ["languages-error", []],
  category: ["category-error", [category]],
  min_price: ["price-error", [minPrice]],
  max_price: ["price-error", [maxPrice]],
};

let timer;
let seq = 0;
let offset = 0; // the page: results offset+1 … offset+k
let brands = []; // brand facet values picked
let suggestTimer;
let suggestSeq = 0;
const suggestions = $("suggestions");
const SUGGEST_DEBOUNCE_MS = 80;
let inflight = null;
const seenCategories = new Set();

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function selectedLanguages() {
  return chips.filter((c) => c.dataset.lang && c.getAttribute("aria-pressed") === "true").map((c) => c.dataset.lang);
}

function setLanguages(langs) {
  for (const chip of chips) {
    const on = chip.dataset.lang ? langs.includes(chip.dataset.lang) : langs.length === 0;
    chip.setAttribute("aria-pressed", String(on));
  }
}

function buildRequest() {
  const body = { query: query.value.trim(), k: Number(k.value) };
  const langs = selectedLanguages();
  if (langs.length) body.languages = langs;
  if (category.value.trim()) body.category = category.value.trim();
  if (minPrice.value !== "") body.min_price = Number(minPrice.value);
  if (maxPrice.value !== "") body.max_price = Number(maxPrice.value);
  if (brands.length) body.brands = brands;
  if (sort.value !== "relevance") body.sort = sort.value;
  if (offset) body.offset = offset;
  if (explain.checked) body.explain = true;
  body.facets = FACETS;
  return body;
}

function syncUrl(body) {
  const params = new URLSearchParams();
  if (body.query) params.set("q", body.query);
  if (body.languages) params.set("lang", body.languages.join(","));
  if (body.category) params.set("category", body.category);
  if ("min_price" in body) params.set("min_price", body.min_price);
  if ("max_price" in body) params.set("max_price", body.max_price);
  if (body.k !== 20) params.set("k", body.k);
  if (body.brands) params.set("brand", body.brands.join(","));
  if (body.sort) params.set("sort", body.sort);
  if (body.offset) params.set("offset", body.offset);
  if (body.explain) params.set("explain", "1");
  const search = params.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function restoreFromUrl() {
  const params = new URLSearchParams(location.search);
  query.value = params.get("q") ?? "";
  setLanguages((params.get("lang") ?? "").split(",").filter((l) => l in LANGUAGE_NAMES));
  category.value = params.get("category") ?? "";
  minPrice.value = params.get("min_price") ?? "";
  maxPrice.value = params.get("max_price") ?? "";
  if (params.has("k")) k.value = params.get("k");
  explain.checked = params.get("explain") === "1";
  brands = (params.get("brand") ?? "").split(",").filter(Boolean);
  if (params.has("sort")) sort.value = params.get("sort");
  offset = Math.max(0, Math.min(MAX_OFFSET, Number(params.get("offset")) || 0));
}

function clearFieldErrors() {
  for (const [errorId, inputs] of Object.values(FIELDS)) {
    $(errorId).hidden = true;
    for (const input of inputs) input.removeAttribute("aria-invalid");
  }
}

function showFieldErrors(problem) {
  const details = problem.details?.length ? problem.details : [{ field: "query", message: problem.message }];
  for (const { field, message } of details) {
    const root = String(field).split(".")[0];
    // Errors on the whole body (e.g. min_price > max_price) belong to the controls their message names.
    const named = root in FIELDS ? [root] : Object.keys(FIELDS).filter((f) => message.includes(f));
    const names = named.length ? named : ["query"];
    const box = $(FIELDS[names[0]][0]);
    box.textContent = box.hidden ? message : `${box.textContent}; ${message}`;
    box.hidden = false;
    for (const name of names) for (const input of FIELDS[name][1]) input.setAttribute("aria-invalid", "true");
  }
  showMessage(null);
  list.replaceChildren();
  statusLine.textContent = "Check the highlighted field.";
  latency.textContent = "";
}

// Shows `nodes` in the alert box or the empty-state box; null hides both.
function showMessage(nodes, isAlert = false) {
  alertBox.hidden = !(nodes && isAlert);
  empty.hidden = !(nodes && !isAlert);
  if (nodes) (isAlert ? alertBox : empty).replaceChildren(...nodes);
}

function showIdle() {
  list.replaceChildren();
  facetsBox.hidden = pager.hidden = true;
  statusLine.textContent = "";
  latency.textContent = "";
  showMessage([el("strong", { textContent: "Start typing to search the catalogue" }),
    "A query in any of the eight languages finds products in all of them."]);
}

function failureTitle(status) {
  if (status === 0 || status >= 500) return "Search is temporarily unavailable."; // 0: no answer at all
  if (status === 429) return "Too many searches in a short time.";
  if (status === 401 || status === 403) return "This search service needs an API key.";
  return `Search failed (HTTP ${status}).`;
}

function showFailure(status, problem) {
  list.replaceChildren();
  facetsBox.hidden = pager.hidden = true;
  latency.textContent = "";
  const title = failureTitle(status);
  statusLine.textContent = title;
  const retry = el("button", { type: "button", className: "chip", textContent: "Try again" });
  retry.addEventListener("click", () => run());
  showMessage([el("strong", { textContent: title }),
    el("p", { textContent: problem?.message ?? "The service did not say why." }), retry], true);
}

function formatPrice(price, currency, lang) {
  try {
    return new Intl.NumberFormat(LOCALES[lang] ?? "en-US", {
      style: "currency", currency, currencyDisplay: "narrowSymbol", numberingSystem: "latn",
    }).format(price);
  } catch {
    return `${price} ${currency}`;
  }
}

function rememberCategories(results) {
  const before = seenCategories.size;
  for (const { category: path } of results) {
    const parts = path.split(" > ");
    parts.forEach((_, i) => seenCategories.add(parts.slice(0, i + 1).join(" > ")));
  }
  if (seenCategories.size !== before) {
    $("category-options").replaceChildren(...[...seenCategories].sort().map((value) => el("option", { value })));
  }
}

function resultItem(r, index, withScores) {
  const title = el("h3", { id: `result-${index}`, dir: "auto", lang: r.language, textContent: r.title });
  const price = el("p", { className: "price", textContent: formatPrice(r.price, r.currency, r.language) });
  price.dataset.price = r.price;
  price.dataset.currency = r.currency;
  const badge = el("span", { className: "badge" },
    el("abbr", { title: LANGUAGE_NAMES[r.language] ?? r.language, textContent: r.language }));
  const meta = el("div", { className: "meta" }, badge);
  if (r.brand) meta.append(el("span", { className: "vendor", dir: "auto", lang: r.language, textContent: r.brand }));
  meta.append(el("span", { className: "category", dir: "auto", textContent: r.category.replaceAll(" > ", " › ") }));
  const item = el("li", { className: "result" }, title, price, meta);
  // An Urdu title and its details read right to left, even when the title starts with a Latin brand name;
  // rank and price keep their columns so that a page of mixed languages still scans down one edge.
  if (RTL_LANGUAGES.has(r.language)) title.dir = meta.dir = "rtl";
  item.dataset.language = r.language;
  item.setAttribute("aria-labelledby", title.id);
  if (withScores) {
    const scores = SCORE_FIELDS.filter(([key]) => typeof r[key] === "number")
      .map(([key, label]) => el("div", {}, el("dt", { textContent: label }), el("dd", { textContent: r[key].toFixed(4) })));
    item.append(el("dl", { className: "scores", ariaLabel: "Scores" }, ...scores));
  }
  return item;
}

function showResults(data, body, roundTripMs) {
  const n = data.results.length;
  rememberCategories(data.results);
  list.replaceChildren(...data.results.map((r, i) => resultItem(r, data.offset + i, Boolean(body.explain))));
  list.start = data.offset + 1;
  list.style.counterReset = `rank ${data.offset}`; // the shown rank continues across pages
  showFacets(data.facets);
  showPager(data, body);
  const detected = data.query_language ? ` · query in ${LANGUAGE_NAMES[data.query_language] ?? data.query_language}` : "";
  // words the index never saw, and what they were also matched as ("bluetoth" → "bluetooth")
  const fixes = Object.entries(data.spelling ?? {}).map(([typed, indexed]) => `${typed} → ${indexed}`);
  const spelling = fixes.length ? ` · also matched ${fixes.join(", ")}` : "";
  // the market's own words for the query's English (or romanised) product words ("air fryer" → "nồi chiên không dầu")
  const terms = data.translations ?? [];
  const shownTerms = terms.slice(0, 4).join(", ") + (terms.length > 4 ? ", …" : "");
  const translated = terms.length ? ` · also searched as ${shownTerms}` : "";
  const count = data.total ?? n;
  const atLeast = data.total_relation === "gte" ? "at least " : "";
  statusLine.textContent = n
    ? `${atLeast}${count.toLocaleString("en-US")} ${count === 1 ? "product" : "products"} for “${data.query}”${detected}${spelling}${translated}`
    : `No products match “${data.query}”${detected}${spelling}${translated}`;
  latency.textContent = `${data.took_ms.toFixed(1)} ms on the server · ${roundTripMs.toFixed(0)} ms round trip`;
  const filtered = body.languages || body.category || body.brands || "min_price" in body || "max_price" in body;
  showMessage(n ? null : [el("strong", { textContent: `No products match “${data.query}”` }),
    filtered ? "Try removing some filters: language, category or price." : "Try other words or another language."]);
}

// A facet value, clicked, becomes a filter (and a second click on a picked one removes it); back to page 1.
function applyFacet(field, item) {
  if (field === "category") category.value = category.value === item.value ? "" : item.value;
  else if (field === "brand") brands = brands.includes(item.value) ? brands.filter((b) => b !== item.value) : [...brands, item.value];
  else if (field === "language") setLanguages(selectedLanguages().length === 1 && selectedLanguages()[0] === item.value ? [] : [item.value]);
  else if (field === "price") {
    const picked = minPrice.value === String(item.min) && maxPrice.value === String(item.max);
    minPrice.value = picked ? "" : item.min;
    maxPrice.value = picked ? "" : item.max;
  }
  offset = 0;
  run();
}

function facetPicked(field, item) {
  if (field === "category") return category.value === item.value;
  if (field === "brand") return brands.includes(item.value);
  if (field === "language") return selectedLanguages().includes(item.value);
  return minPrice.value === String(item.min) && maxPrice.value === String(item.max);
}

function showFacets(facets) {
  const groups = FACETS.filter((f) => facets?.[f]?.length).map((field) => {
    const heading = el("h3", { id: `facet-${field}`, textContent: FACET_TITLES[field] });
    const items = facets[field].slice(0, 10).map((item) => {
      const label = field === "language" ? (LANGUAGE_NAMES[item.value] ?? item.value)
        : field === "category" ? item.value.replaceAll(" > ", " › ") : item.value;
      const button = el("button", { type: "button", className: "facet-value" },
        el("span", { className: "facet-label", dir: "auto", textContent: label }),
        el("span", { className: "facet-count", textContent: item.count.toLocaleString("en-US") }));
      button.dataset.field = field;
      button.dataset.value = item.value;
      button.setAttribute("aria-pressed", String(facetPicked(field, item)));
      button.addEventListener("click", () => applyFacet(field, item));
      return el("li", {}, button);
    });
    const group = el("section", { className: "facet" }, heading, el("ul", {}, ...items));
    group.setAttribute("aria-label", `Refine by ${FACET_TITLES[field].toLowerCase()}`);
    return group;
  });
  facetsBox.replaceChildren(...groups);
  facetsBox.hidden = groups.length === 0;
}

function showPager(data, body) {
  const n = data.results.length;
  const total = data.total ?? n;
  const more = data.offset + n < total && data.offset + body.k <= MAX_OFFSET;
  pager.hidden = n === 0 || (data.offset === 0 && !more);
  $("prev-page").disabled = data.offset === 0;
  $("next-page").disabled = !more;
  const of = data.total == null ? "" : ` of ${data.total_relation === "gte" ? "at least " : ""}${data.total.toLocaleString("en-US")}`;
  $("page-info").textContent = n ? `Results ${data.offset + 1}–${data.offset + n}${of}` : "";
}

// Completions under the box (GET /v1/suggest), in the chosen markets; a click or Enter on one searches it.
function hideSuggestions() {
  suggestions.hidden = true;
  suggestions.replaceChildren();
  query.setAttribute("aria-expanded", "false");
  query.removeAttribute("aria-activedescendant");
}

function pickSuggestion(text) {
  query.value = text;
  hideSuggestions();
  offset = 0;
  run();
}

async function loadSuggestions() {
  const typed = query.value.trim();
  const id = ++suggestSeq;
  if (!typed) {
    hideSuggestions();
    return;
  }
  const params = new URLSearchParams({ q: typed.slice(0, 100) });
  const langs = selectedLanguages();
  if (langs.length) params.set("languages", langs.join(","));
  let data;
  try {
    const response = await fetch(`/v1/suggest?${params}`);
    if (!response.ok) throw new Error(String(response.status));
    data = await response.json();
  } catch {
    if (id === suggestSeq) hideSuggestions(); // completions are a convenience: a failure just shows none
    return;
  }
  if (id !== suggestSeq || document.activeElement !== query) return;
  const items = data.suggestions.map((s, i) => {
    const option = el("li", { id: `suggestion-${i}`, className: "suggestion", dir: "auto" },
      el("span", { textContent: s.text }),
      el("span", { className: "suggestion-kind", textContent: s.kind === "product" ? "" : s.kind }));
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", "false");
    option.dataset.text = s.text;
    if (s.language) option.lang = s.language;
    option.addEventListener("mousedown", (event) => {
      event.preventDefault(); // keep the focus in the box
      pickSuggestion(s.text);
    });
    return option;
  });
  suggestions.replaceChildren(...items);
  suggestions.hidden = items.length === 0;
  query.setAttribute("aria-expanded", String(items.length > 0));
}

function moveSuggestion(step) {
  const options = [...suggestions.querySelectorAll(".suggestion")];
  if (suggestions.hidden || !options.length) return false;
  const at = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
  const slots = options.length + 1; // the options and, as -1, the box itself
  const next = ((at + 1 + step + slots) % slots) - 1;
  options.forEach((o, i) => o.setAttribute("aria-selected", String(i === next)));
  if (next >= 0) query.setAttribute("aria-activedescendant", options[next].id);
  else query.removeAttribute("aria-activedescendant");
  return true;
}

function rejectsExplain(problem) {
  return problem?.details?.some((d) => String(d.field).startsWith("explain")) ?? false;
}

async function run() {
  clearTimeout(timer);
  const body = buildRequest();
  syncUrl(body);
  clearFieldErrors();
  inflight?.abort();
  const id = ++seq;
  if (!body.query) {
    showIdle();
    return;
  }
  inflight = new AbortController();
  list.setAttribute("aria-busy", "true");
  const started = performance.now();
  let response;
  let data;
  try {
    response = await fetch("/v1/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: inflight.signal,
    });
    data = await response.json().catch(() => null);
  } catch (err) {
    if (id === seq) showFailure(0, { message: `The search service could not be reached (${err.message}).` });
    return;
  } finally {
    if (id === seq) list.removeAttribute("aria-busy");
  }
  if (id !== seq) return; // a newer request has been sent since: this answer is stale
  if (response.ok) {
    showResults(data, body, performance.now() - started);
  } else if (response.status === 422 && body.explain && rejectsExplain(data)) {
    // This API version has no explain mode: hide the switch and search without it.
    explain.checked = false;
    $("explain-field").hidden = true;
    run();
  } else if (response.status === 422) {
    showFieldErrors(data ?? { message: "The request was rejected." });
  } else {
    showFailure(response.status, data);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

async function loadInfo() {
  const footer = $("info");
  try {
    const response = await fetch("/v1/info");
    const info = await response.json();
    if (!response.ok) throw new Error(info.message);
    footer.textContent = info.index_version
      ? `Index ${info.index_version} · ${info.documents.toLocaleString("en-US")} products · model ${info.model}`
      : `No index is being served yet · model ${info.model}`;
  } catch {
    footer.textContent = "Index information is unavailable.";
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
for (const input of [query, category, minPrice, maxPrice]) {
  input.addEventListener("input", () => {
    offset = 0; // a new question starts at its first page
    schedule();
  });
}
query.addEventListener("input", () => {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(loadSuggestions, SUGGEST_DEBOUNCE_MS);
});
query.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (moveSuggestion(event.key === "ArrowDown" ? 1 : -1)) event.preventDefault();
  } else if (event.key === "Enter") {
    const chosen = suggestions.querySelector('.suggestion[aria-selected="true"]');
    if (chosen && !suggestions.hidden) {
      event.preventDefault();
      pickSuggestion(chosen.dataset.text);
    }
  } else if (event.key === "Escape" && !suggestions.hidden) {
    event.preventDefault(); // closes the completions only; a second Escape clears the box as usual
    hideSuggestions();
  }
});
query.addEventListener("blur", hideSuggestions);
for (const control of [k, sort]) {
  control.addEventListener("change", () => {
    offset = 0;
    run();
  });
}
explain.addEventListener("change", () => run());
$("prev-page").addEventListener("click", () => {
  offset = Math.max(0, offset - Number(k.value));
  run();
});
$("next-page").addEventListener("click", () => {
  offset = Math.min(MAX_OFFSET, offset + Number(k.value));
  run();
});
$("languages").addEventListener("click", (event) => {
  const chip = event.target.closest(".chip");
  if (!chip) return;
  const lang = chip.dataset.lang;
  const langs = selectedLanguages();
  setLanguages(!lang ? [] : langs.includes(lang) ? langs.filter((l) => l !== lang) : [...langs, lang]);
  offset = 0;
  run();
});

restoreFromUrl();
run();
loadInfo();
