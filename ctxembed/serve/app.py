"""The FastAPI app of `ctxembed serve`: search, OpenAI-style embeddings, index summaries, senses and the page.

Indexes load once, in a background thread at start-up: `/health` answers at once, `/ready` says 503
until every index has loaded. Each request computes in a worker thread behind a `Gate` (bounded
concurrency, a queue, then 429) with a timeout (504). Errors are JSON that names the field; an
internal failure is a 500 that names the error type only (no traceback, no path). Nothing a client
sends names a file to read or write.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ctxembed.data import Document
from ctxembed.serve.limits import ApiError, BodyLimit
from ctxembed.serve.schemas import (
    DocumentsRequest,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Model,
    ModelList,
    SearchRequest,
    SearchResponse,
    UpdateResponse,
)
from ctxembed.serve.senses import word_senses_view
from ctxembed.serve.service import Service, internal_error
from ctxembed.serve.settings import ServeConfig

logger = logging.getLogger(__name__)
SNIPPET_CHARS = 280
OPEN_PATHS = ("/health", "/", "/page/app.js", "/page/style.css")  # no data: the page asks for the key itself


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
            error = ApiError(500, internal_error(exc), kind=type(exc).__name__)
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
        names = list(service.indexes) if service.ready else []
        shown = [service.get(name, "index") for name in names]  # each as it is now (an update may have replaced it)
        return {"indexes": [served.summary() for served in shown or service.indexes.values()], "ready": service.ready}

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

    @app.post("/documents", response_model=UpdateResponse, tags=["documents"])
    async def add_documents(request: DocumentsRequest) -> UpdateResponse:
        """Add documents to an index, or replace those whose id it has: one atomic update, encoding only them."""
        if not request.documents:
            raise ApiError(422, "documents is empty; give at least one document", field="documents")
        if len(request.documents) > config.max_batch:
            raise ApiError(422, f"{len(request.documents)} documents, over max_batch={config.max_batch}",
                           field="documents")  # fmt: skip
        changes = [Document(d.id, d.text, d.title, dict(d.metadata)) for d in request.documents]
        return await service.gate.run(lambda: service.update(request.index, changes=changes), config.timeout_s)

    @app.delete("/documents/{doc_id}", response_model=UpdateResponse, tags=["documents"])
    async def delete_document(doc_id: str, index: str = Query(description="A loaded index's name.")) -> UpdateResponse:
        """Delete one document (and all its passages) from an index."""
        return await service.gate.run(lambda: service.update(index, deletes=[doc_id]), config.timeout_s)

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
