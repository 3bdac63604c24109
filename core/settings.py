"""The one settings object of LiRA Search.

Every knob is an environment variable with the ``LIRA_`` prefix (or a ``.env`` file); ``PORT`` and
``QDRANT_URL`` / ``QDRANT_API_KEY`` are also read unprefixed because deployments conventionally set them.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, TypeAdapter, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES: tuple[str, ...] = ("en", "vi", "th", "id", "ms", "tl", "ur", "bn")


MIN_KEY_CHARS = 16

# The model bundle (model/bundle.py): its manifest's query path gives the defaults of the settings marked BUNDLE below
BUNDLE_FORMAT = "lira-bundle/1"
BUNDLE_MANIFEST = "manifest.json"
DEFAULT_BUNDLE = REPO_ROOT / "model" / "bundle"
QUERY_PATH_KEYS: tuple[str, ...] = (
    "model",
    "query_precision",
    "query_view_bound",
    "query_tower",
    "passage_encoder",
    "query_tower_max_tokens",
    "max_seq_len",
    "spell_dense",
    "rerank_candidates",
    "prefetch",
    "rrf_k",
)
# research and reproduction knobs: set by the bundle, overridden only to measure something (docs/configuration.md)
BUNDLE: dict[str, Any] = {"bundle": True}


@lru_cache(maxsize=8)
def _manifest_at(path: Path, mtime_ns: int) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    """The validator of one setting's type (built once: every Settings() applies the manifest's query path)."""
    annotation = Settings.model_fields[name].annotation
    return TypeAdapter(Any if annotation is None else annotation)


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The bundle manifest at ``root`` (parsed once per change of the file), or None when there is none."""
    path = Path(root) / BUNDLE_MANIFEST
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _manifest_at(path, mtime)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "lira-search"


def _split_list(value: object) -> object:
    """Lists from the environment as JSON (``["a","b"]``) or comma-separated (``a,b``); blanks dropped."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg}); use a JSON list or comma-separated values") from None
        else:
            value = text.split(",")
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return value


StrList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIRA_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # data
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd().parent / "shared" / "data",
        description="Parallel corpora (en<TAB>xx TSV) for training and the tests that need them.",
    )
    catalogue_path: Path = Field(
        REPO_ROOT / "data" / "catalogue" / "products.jsonl",
        description="Catalogue the indexer reads (.jsonl or .csv); the default is the generated demo catalogue.",
    )

    # model
    model_cache_dir: Path = Field(default_factory=_default_cache_dir, description="Materialised base model.")
    model_bundle: Path = Field(
        DEFAULT_BUNDLE,
        description="Model bundle directory (manifest.json + the encoder and LaSR files it names, checked by sha256 at "
        "start-up); its query path sets the defaults of the bundle settings.",
    )
    model: Literal["arca", "base"] = Field("arca", json_schema_extra=BUNDLE, description="arca, or the untrained base.")
    arca_checkpoint: Path = Field(
        DEFAULT_BUNDLE / "arca.pt", json_schema_extra=BUNDLE, description="Arca checkpoint; unset: the bundle's."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the encoder runs; auto = cuda when present."
    )
    threads: int | None = Field(None, ge=1, description="Intra-op threads (torch / ONNX Runtime); None = default.")
    runtime: Literal["auto", "torch", "onnx"] = Field(
        "auto",
        description="Encoder trunk at inference: onnx = ONNX Runtime (CPU, 2.5-3x faster, same vectors), "
        "torch, or auto (onnx on CPU when installed).",
    )
    query_precision: Literal["fp32", "int8"] = Field(
        "int8",
        description="Query encodings on ONNX Runtime: int8 = dynamically quantised projections (faster; speed and "
        "retrieval cost measured in the model card); fp32 = exact. Passages (the index) are always fp32; "
        "torch and CUDA ignore it.",
        json_schema_extra=BUNDLE,
    )
    batch_size: int = Field(64, ge=1, le=1024, description="Texts per encoder call when indexing.")
    query_view_bound: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Arca queries skip a view whose gate weight provably stays below this (0 = encode every view; "
        "chosen on the dev split, see the model card). Passages always use every view.",
        json_schema_extra=BUNDLE,
    )
    query_tower: Literal["distilled", "full"] = Field(
        "full",
        description="Arca queries: full = all 12 layers; distilled = the first layers of Arca distilled to the full "
        "model's query vectors (query_tower_checkpoint, for the student it was distilled from): faster, but far "
        'below the full model on text unlike the demo catalogue\'s queries (model card, "Generality"). Passages '
        "(the index) always use the full model.",
        json_schema_extra=BUNDLE,
    )
    passage_encoder: Literal["arca", "base"] = Field(
        "base",
        description="What encodes passages (the index) when Arca serves queries: base = multilingual-e5-small "
        "alone, one pass per listing (the base model's indexing speed; on the real benchmark and the demo at least "
        "as good as Arca's own passages, model card \"Passages\"); arca = Arca's views and composer. Part of the "
        "model fingerprint: an index is served only by the configuration that built it.",
        json_schema_extra=BUNDLE,
    )
    query_tower_checkpoint: Path = Field(
        DEFAULT_BUNDLE / "query_tower.pt",
        description="Distilled query tower; unset: the bundle's.",
        json_schema_extra=BUNDLE,
    )
    query_tower_max_tokens: int = Field(
        20,
        ge=1,
        le=512,
        description="With the distilled tower, a query text (each view) of more tokens than this, prefix and "
        "specials included, takes the full model: the tower is for what shoppers type (the longest train query is "
        "20 tokens), not for sentences, where its approximation is weakest.",
        json_schema_extra=BUNDLE,
    )
    max_seq_len: int = Field(
        128, ge=8, le=512, description="Longest text the encoder reads, in tokens.", json_schema_extra=BUNDLE
    )

    # retrieval and reranking
    hybrid: bool = Field(True, description="Default of /v1/search's hybrid switch: fuse lexical with dense (RRF).")
    rerank: bool = Field(True, description="Default of /v1/search's rerank switch; false = no LaSR loaded at all.")
    spell_correct: bool = Field(
        True,
        description="Lexical side: a query word neither the index nor the product lexicon knows (3+ letters) "
        "also matches the most frequent known word of 4+ letters one edit away.",
    )
    spell_dense: bool = Field(
        True,
        description="With spelling correction on, a misspelt query's corrected text is also encoded (same "
        "batch) and the dense side searches with the mean direction of the two; false = the dense side sees the "
        "query as typed (one encoder pass fewer for misspelt queries).",
        json_schema_extra=BUNDLE,
    )
    translate_queries: bool = Field(
        True,
        description="In a search filtered to a market (`languages`): English product words in a query (and "
        "romanised Thai/Urdu/Bengali ones, and market-language synonyms) add their market-language terms from the "
        "query vocabulary (the catalogue's mined vocabulary, and the product lexicon when LIRA_PRODUCT_LEXICON) to "
        "the lexical side, and market words add their English spellings when English listings are searched too; "
        "the dense query is pulled towards the market's names for its English words; false = the words as typed "
        "only.",
    )
    catalogue_vocabulary: bool = Field(
        True,
        description="The indexer mines the catalogue's own cross-lingual vocabulary (terms aligned to English "
        "by the encoder, romanised spellings) and keeps it with the index version; the API translates and spells "
        'with the serving version\'s (docs/api.md "Catalogue vocabulary"). False = neither mines nor uses it.',
    )
    product_lexicon: bool = Field(
        False,
        description="The hand-written product lexicon of the generated demo catalogue (`data/lexicon`) joins "
        "the query vocabulary. Off by default: a merchant's catalogue gets its vocabulary from its own listings; "
        "the lexicon can also be given as a synonyms file (`python -m data.lexicon.synonyms`).",
    )
    synonyms_path: Path | None = Field(
        None,
        description='Merchant synonym rules (Solr format, a [lang] section per language; docs/api.md "Synonyms"): '
        "a match adds the rule's other terms to the lexical side. PUT /v1/admin/synonyms rewrites this file. Unset = "
        "no rules (and PUT is refused).",
    )
    lasr_checkpoint: Path = Field(
        DEFAULT_BUNDLE / "lasr.pt",
        description="LaSR head. Unset: the bundle's head for the query path (LIRA_QUERY_TOWER), trained on its "
        "query vectors.",
        json_schema_extra=BUNDLE,
    )
    rerank_candidates: int = Field(
        50, ge=1, le=200, description="Fused candidates LaSR rescores (N).", json_schema_extra=BUNDLE
    )
    prefetch: int = Field(
        50, ge=1, le=1000, description="Dense and lexical candidates fetched before fusion.", json_schema_extra=BUNDLE
    )
    rrf_k: int = Field(
        60, ge=1, description="Reciprocal-rank-fusion constant: score = sum 1/(k + rank).", json_schema_extra=BUNDLE
    )

    match_window: int = Field(
        200,
        ge=1,
        le=2000,
        description="A query's matches (total, facets, price sort) include its dense top-N under the filters: N.",
    )
    match_lexical_cap: int = Field(
        5000,
        ge=1,
        le=100_000,
        description="At most this many lexical matches are counted (beyond it total is a lower bound).",
    )
    match_dense_margin: float = Field(
        0.04,
        ge=0,
        le=2,
        description="A dense neighbour matches when its cosine is within this of the best one (e5 cosines of "
        "unrelated products sit ~0.05-0.08 below related ones).",
    )
    match_lexical_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A lexical match counts when its BM25 score is at least this share of the best one (a soft "
        "minimum-should-match: one common word of three is not a match).",
    )
    facet_size: int = Field(20, ge=1, le=200, description="Values per facet field in a search response.")

    # store
    store: Literal["edge", "server", "local"] = Field(
        "edge",
        description="edge = Qdrant Edge in-process; server = Qdrant via QDRANT_URL; local = qdrant-client local mode.",
    )
    index_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "var" / "index",
        description="Edge shards / local-mode storage (relative to the working directory).",
    )
    qdrant_url: str | None = Field(
        None,
        validation_alias=AliasChoices("LIRA_QDRANT_URL", "QDRANT_URL"),
        description="Qdrant server (store=server).",
    )
    qdrant_api_key: str | None = Field(
        None,
        validation_alias=AliasChoices("LIRA_QDRANT_API_KEY", "QDRANT_API_KEY"),
        description="API key of the Qdrant server.",
    )
    collection: str = Field("products", description="Alias (server) / dataset name (edge) that serves searches.")
    store_timeout_s: float = Field(5.0, gt=0, description="Timeout of one store request (server), seconds.")
    keep_versions: int = Field(2, ge=1, description="Index versions kept after a switch (current included).")

    # index layout (fixed when a version is built) and dense search parameters; README "Scale"
    quantization: Literal["none", "int8"] = Field(
        "none", description="int8 = scalar-quantised vectors in RAM for HNSW, fp32 originals rescore (new versions)."
    )
    quantization_oversampling: float = Field(2.0, ge=1.0, description="int8: candidates rescored per result wanted.")
    quantization_rescore: bool = Field(True, description="int8: rescore the quantised candidates with fp32 vectors.")
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW edges per node (new versions).")
    hnsw_ef_construct: int = Field(100, ge=4, le=1000, description="HNSW build beam width (new versions).")
    hnsw_ef: int | None = Field(None, ge=1, le=4096, description="HNSW search beam width; None = engine default.")
    hnsw_full_scan_kb: int = Field(
        10_000, ge=1, description="Filters matching fewer KB of vectors are searched exactly (new versions)."
    )
    vectors_on_disk: bool = Field(False, description="Memory-map the fp32 vectors instead of loading them.")
    hnsw_on_disk: bool = Field(False, description="Memory-map the HNSW graph instead of loading it.")
    payload_on_disk: bool = Field(True, description="Memory-map payloads (the engines' default) instead of RAM.")
    index_wait_s: float = Field(3600.0, gt=0, description="Server: how long a reindex waits for the HNSW build.")

    # service
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, validation_alias=AliasChoices("LIRA_PORT", "PORT"), description="Port the API listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies whose X-Forwarded-For is trusted for the client IP (uvicorn); '*' = all."
    )

    # access and limits
    api_keys: StrList = Field(
        default_factory=list, repr=False, description="Keys that may search and encode (JSON list or comma-separated)."
    )
    admin_api_keys: StrList = Field(
        default_factory=list, repr=False, description="Keys that may also administer (reindex); none = admin disabled."
    )
    require_key_for_search: bool = Field(True, description="With LIRA_API_KEYS set, search/encode/info need a key.")
    rate_limit: str = Field("", description='Per API key, else per client IP, e.g. "120/minute"; empty = off.')
    rate_limit_storage: str = Field("memory://", description="slowapi/limits storage URI (per process by default).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413 before parsing.")
    cors_origins: StrList = Field(default_factory=list, description="Origins allowed by CORS; empty = no CORS.")

    # observability
    access_log: bool = Field(True, description="One JSON line per request on stdout (logger lira.access).")
    metrics_refresh_s: float = Field(30.0, ge=0, description="Max age of the documents-per-language gauges.")

    # scale-out (Qdrant server only)
    shard_number: int = Field(1, ge=1, description="Shards of each index version's collection.")
    replication_factor: int = Field(1, ge=1, description="Copies of each shard across the cluster's peers.")

    @model_validator(mode="after")
    def _from_the_bundle(self) -> Settings:
        """Bundle settings not set explicitly take the bundle manifest's query path and files; the LaSR head is the
        bundle's head for the query path the settings give (a head trained on those query vectors)."""
        manifest = read_manifest(self.model_bundle) or {}
        given = set(self.model_fields_set)  # a copy: each assignment below adds its field to the live set
        for key, value in manifest.get("query_path", {}).items():
            if key in QUERY_PATH_KEYS and key not in given:
                setattr(self, key, _field_adapter(key).validate_python(value))
        root = self.model_bundle
        if "arca_checkpoint" not in given and manifest.get("encoder", {}).get("file"):
            self.arca_checkpoint = root / manifest["encoder"]["file"]
        if "query_tower_checkpoint" not in given and (manifest.get("tower") or {}).get("file"):
            self.query_tower_checkpoint = root / manifest["tower"]["file"]
        if "lasr_checkpoint" not in given:
            head = manifest.get("heads", {}).get(self.query_tower, {}).get("file")
            self.lasr_checkpoint = root / (head or f"lasr_{self.query_tower}.pt")
        return self

    @field_validator("api_keys", "admin_api_keys", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, v: object) -> object:
        return _split_list(v)

    @field_validator("api_keys", "admin_api_keys")
    @classmethod
    def _long_keys(cls, v: list[str]) -> list[str]:
        short = sum(len(k) < MIN_KEY_CHARS for k in v)
        if short:
            raise ValueError(
                f"{short} key(s) shorter than {MIN_KEY_CHARS} characters: use long random keys, "
                "e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return v

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        v = v.strip()
        if v:
            from limits import parse_many

            try:
                parse_many(v)
            except ValueError:
                raise ValueError(f'{v!r} is not a rate limit: use e.g. "120/minute" or "10/second;500/hour"') from None
        return v

    def resolved_store(self) -> str:
        """``server`` whenever a Qdrant URL is configured, else the configured embedded engine."""
        return "server" if self.qdrant_url else self.store


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_error_message(exc: Exception) -> str:
    """A pydantic ValidationError of Settings as one line naming each variable (never its value: keys are secret)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = [f"LIRA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}" for e in errors()]
    return "invalid settings: " + "; ".join(parts)
