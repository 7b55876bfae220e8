"""The FastAPI app of `ctxembed serve`: search, OpenAI-style embeddings, index summaries, senses and the page.

Indexes load once, in a background thread at start-up: `/health` answers at once, `/ready` says 503
until every index has loaded. Each request computes in a worker thread behind a `Gate` (bounded
concurrency, a queue, then 429) with a timeout (504). Errors are JSON that names the field; an
internal failure is a 500 that names the error type only (no traceback, no path). Nothing a client
sends names a file to read or write.
"""

from __future__ import annotations

import base64
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ctxembed.errors import CtxEmbedError
from ctxembed.serve.indexes import ServedIndex, index_names, load_index
from ctxembed.serve.limits import ApiError, BodyLimit, Gate
from ctxembed.serve.schemas import (
    Embedding,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Hit,
    Model,
    ModelList,
    QueryHits,
    SearchRequest,
    SearchResponse,
    Usage,
)
from ctxembed.serve.senses import word_senses_view
from ctxembed.serve.settings import ServeConfig

logger = logging.getLogger(__name__)
SNIPPET_CHARS = 280
OPEN_PATHS = ("/health", "/", "/page/app.js", "/page/style.css")  # no data: the page asks for the key itself


class Service:
    """The loaded indexes and the service's limits; shared by every request (read-only once loaded)."""

    def __init__(self, folders: Sequence[str | Path], config: ServeConfig, device: str | None = None) -> None:
        self.folders = [Path(f) for f in folders]
        self.names = index_names(self.folders)
        self.config, self.device = config, device
        self.indexes: dict[str, ServedIndex] = {}
        self.failure: str | None = None  # what /ready shows of a failed load
        self.error: BaseException | None = None  # the failed load itself, for the CLI's one-line error
        self.gate = Gate(config.max_concurrency, config.max_queue)
        self.on_failure: Callable[[str], None] = lambda message: None

    @property
    def ready(self) -> bool:
        return len(self.indexes) == len(self.folders) and self.failure is None

    def load_all(self) -> None:
        """Load every index in turn; the first that fails stops loading and is reported."""
        for name, folder in zip(self.names, self.folders):
            started = time.perf_counter()
            try:
                self.indexes[name] = load_index(folder, name, device=self.device)
            except Exception as exc:  # reported as the start's one-line error, then the server stops
                self.error = exc
                self.failure = f"index {folder}: {exc}" if isinstance(exc, CtxEmbedError) else _internal(exc)
                self.on_failure(self.failure)
                return
            logger.info(
                "loaded %s (%d documents) in %.1fs", name, len(self.indexes[name].index), time.perf_counter() - started
            )

    def get(self, name: str, field: str) -> ServedIndex:
        if not self.ready:
            raise ApiError(503, "the indexes are still loading; retry when /ready answers 200", kind="not_ready")
        if name not in self.indexes:
            known = ", ".join(self.indexes)
            raise ApiError(404, f"no index named {name!r}; loaded: {known}", field=field, kind="not_found")
        return self.indexes[name]

    def check_texts(self, texts: Sequence[str], field: str) -> None:
        if not texts:
            raise ApiError(422, f"{field} is empty; give at least one text", field=field)
        if len(texts) > self.config.max_batch:
            raise ApiError(422, f"{len(texts)} texts in {field}, over max_batch={self.config.max_batch}", field=field)
        for i, text in enumerate(texts):
            if not text.strip():
                raise ApiError(422, f"{field}[{i}] is blank", field=field)
            if len(text) > self.config.max_text_chars:
                raise ApiError(
                    422, f"{field}[{i}] has {len(text)} characters, over max_text_chars={self.config.max_text_chars}",
                    field=field,
                )  # fmt: skip

    def search(self, request: SearchRequest) -> SearchResponse:
        """What `ctxembed search` answers for the same index, queries, k and mode (the index's own fusion)."""
        served = self.get(request.index, "index")
        if (request.query is None) == (request.queries is None):
            raise ApiError(422, "give exactly one of query or queries", field="query")
        queries = [request.query] if request.query is not None else list(request.queries or [])
        self.check_texts(queries, "queries" if request.queries is not None else "query")
        if request.k > self.config.max_k:
            raise ApiError(422, f"k={request.k} is over max_k={self.config.max_k}", field="k")
        mode = request.mode or served.index.default_mode.value
        if mode not in served.modes:
            raise ApiError(
                422, f"index {served.name!r} answers {', '.join(served.modes)} (built without BM25), not {mode}",
                field="mode",
            )  # fmt: skip
        started = time.perf_counter()
        rows = served.index.search(queries, k=request.k, mode=mode, unknown="skip")  # an unreadable query: no hits
        results = [
            QueryHits(
                query=query,
                hits=[Hit(id=h.doc_id, title=h.title, score=h.score, scores=h.scores, snippet=h.snippet(SNIPPET_CHARS),
                          passage=h.passage) for h in hits],
            )
            for query, hits in zip(queries, rows)
        ]  # fmt: skip
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(index=served.name, mode=mode, results=results, took_ms=took)

    def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        """OpenAI's embeddings shape, from the named index's embedder."""
        served = self.get(request.model, "model")
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        self.check_texts(texts, "input")
        embedder = served.index.embedder
        if request.dimensions is not None and request.dimensions != embedder.dim:
            raise ApiError(
                400,
                f"dimensions: index {served.name!r} gives {embedder.dim}-dimensional embeddings and cannot shorten "
                f"them; leave dimensions out (or pass {embedder.dim})",
                field="dimensions",
            )
        if request.input_type == "document":
            vectors = embedder.encode_documents(texts)
        else:
            vectors = embedder.encode_queries(texts)
        if request.encoding_format == "base64":  # what OpenAI's client asks for by default
            rows = [base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii") for row in vectors]
            data = [Embedding(index=i, embedding=row) for i, row in enumerate(rows)]
        else:
            data = [Embedding(index=i, embedding=[float(x) for x in row]) for i, row in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in texts)  # words: the usage count every backend can give alike
        return EmbeddingsResponse(data=data, model=served.name, usage=Usage(prompt_tokens=tokens, total_tokens=tokens))


def _internal(exc: BaseException) -> str:
    """An internal failure named by its type, without its message (which may hold paths or data)."""
    return f"internal error ({type(exc).__name__})"


def create_app(
    folders: Sequence[str | Path], config: ServeConfig | None = None, *, device: str | None = None
) -> FastAPI:
    """The service over the index `folders` (loaded in a background thread when the app starts)."""
    from contextlib import asynccontextmanager

    config = config or ServeConfig()
    service = Service(folders, config, device)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        threading.Thread(target=service.load_all, name="ctxembed-load", daemon=True).start()
        yield

    app = FastAPI(
        title="ctxembed",
        summary="Search and embeddings over ctxembed indexes (static, contextual and hybrid).",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's docs pages load their scripts from a CDN: the schema is /openapi.json
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)

    @app.middleware("http")
    async def authorise(request: Request, call_next: Any) -> Response:
        key = config.api_key
        if key is not None and request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
                error = ApiError(401, "missing or wrong API key: send Authorization: Bearer KEY", field="authorization", kind="unauthorized")  # fmt: skip
                return JSONResponse(error.body(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            return await call_next(request)
        except Exception as exc:  # an internal failure: its type, never its message, traceback or paths
            logger.exception("internal error on %s", request.url.path)
            error = ApiError(500, _internal(exc), kind=type(exc).__name__)
            return JSONResponse(error.body(), status_code=500)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [p for p in first.get("loc", ()) if isinstance(p, str) and p not in ("body", "query")]
        field = ".".join(where) or "body"
        message = f"{field}: {first.get('msg', 'invalid value')}"
        return JSONResponse(ApiError(422, message, field=field).body(), status_code=422)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"])
    def ready() -> JSONResponse:
        """Readiness: 200 once every index has loaded, else 503."""
        body = {"ready": service.ready, "loaded": list(service.indexes), "total": len(service.folders)}
        if service.failure:
            body["error"] = service.failure
        return JSONResponse(body, status_code=200 if service.ready else 503)

    @app.get("/indexes", tags=["search"])
    def indexes() -> dict[str, Any]:
        """Each loaded index: embedder, adapter, document count, search modes, precision."""
        return {"indexes": [served.summary() for served in service.indexes.values()], "ready": service.ready}

    @app.post("/search", response_model=SearchResponse, tags=["search"])
    async def search(request: SearchRequest) -> SearchResponse:
        """Top-k documents for one query or several, dense, sparse (BM25) or hybrid."""
        return await service.gate.run(lambda: service.search(request), config.timeout_s)

    @app.get("/search", response_model=SearchResponse, tags=["search"])
    async def search_get(
        index: str = Query(description="A loaded index's name."),
        q: str = Query(description="The query."),
        k: int = Query(default=10, ge=1),
        mode: str | None = Query(default=None, description="dense, sparse or hybrid"),
    ) -> SearchResponse:
        """`POST /search` for one query, from a URL."""
        if mode not in (None, "dense", "sparse", "hybrid"):
            raise ApiError(422, f"mode must be dense, sparse or hybrid, got {mode!r}", field="mode")
        request = SearchRequest(index=index, query=q, k=k, mode=mode)  # type: ignore[arg-type]
        return await service.gate.run(lambda: service.search(request), config.timeout_s)

    @app.post("/v1/embeddings", response_model=EmbeddingsResponse, tags=["embeddings"])
    async def embeddings(request: EmbeddingsRequest) -> EmbeddingsResponse:
        """OpenAI-compatible embeddings from a loaded index's embedder (`model` is the index's name)."""
        return await service.gate.run(lambda: service.embeddings(request), config.timeout_s)

    @app.get("/v1/models", response_model=ModelList, tags=["embeddings"])
    def models() -> ModelList:
        """The loaded indexes as OpenAI models: pass one's id as `model` to `/v1/embeddings`."""
        return ModelList(data=[served.model() for served in service.indexes.values()])

    @app.get("/v1/models/{name}", response_model=Model, tags=["embeddings"])
    def model(name: str) -> Model:
        """One loaded index as an OpenAI model."""
        return service.get(name, "model").model()

    @app.get("/senses", tags=["senses"])
    async def senses(word: str = Query(min_length=2, max_length=40, description="A corpus word.")) -> dict[str, Any]:
        """The word's senses in the corpus, clustered by the contextual model, beside static neighbours."""
        if not service.ready:
            raise ApiError(503, "the indexes are still loading; retry when /ready answers 200", kind="not_ready")
        return await service.gate.run(lambda: word_senses_view(service.indexes, word), config.timeout_s)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_asset("index.html"))

    @app.get("/page/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        kinds = {"app.js": "text/javascript", "style.css": "text/css"}
        if name not in kinds:  # a fixed list: no client-named file is ever read
            raise ApiError(404, f"no page asset {name!r}", field="name", kind="not_found")
        return Response(_asset(name), media_type=kinds[name])

    return app


def _asset(name: str) -> str:
    return resources.files("ctxembed.serve").joinpath("page", name).read_text(encoding="utf-8")
