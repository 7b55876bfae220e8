"""The service's state: the loaded indexes (loaded again when an update replaces one), limits, and what each
route computes (search, embeddings, document updates), in a worker thread behind the gate."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ctxembed.data import Document
from ctxembed.errors import CorpusError, CtxEmbedError
from ctxembed.serve.indexes import ServedIndex, index_names, load_index, reloaded
from ctxembed.serve.limits import ApiError, Gate
from ctxembed.serve.schemas import (
    Embedding,
    EmbeddingsRequest,
    EmbeddingsResponse,
    Hit,
    QueryHits,
    SearchRequest,
    SearchResponse,
    UpdateResponse,
    Usage,
)
from ctxembed.serve.settings import ServeConfig

logger = logging.getLogger(__name__)
SNIPPET_CHARS = 280


class Service:
    """The loaded indexes and the service's limits; shared by every request. An index whose folder an update
    replaced (`ctxembed update`, or `POST /documents` here) is loaded again before its next request."""

    def __init__(self, folders: Sequence[str | Path], config: ServeConfig, device: str | None = None) -> None:
        self.folders = [Path(f) for f in folders]
        self.names = index_names(self.folders)
        self.config, self.device = config, device
        self.indexes: dict[str, ServedIndex] = {}
        self.failure: str | None = None  # what /ready shows of a failed load
        self.error: BaseException | None = None  # the failed load itself, for the CLI's one-line error
        self.gate = Gate(config.max_concurrency, config.max_queue)
        self.reloading = threading.Lock()  # one reload of a replaced index at a time
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
                self.failure = f"index {folder}: {exc}" if isinstance(exc, CtxEmbedError) else internal_error(exc)
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
        with self.reloading:
            served = self.indexes[name] = reloaded(self.indexes[name])
        return served

    def update(self, name: str, changes: Sequence[Document] = (), deletes: Sequence[str] = ()) -> UpdateResponse:
        """Add, replace or delete documents of a loaded index, as `ctxembed update` and `delete` do; a search
        after this returns sees the change."""
        from ctxembed.index.update import update_index

        served = self.get(name, "index")
        try:
            report = update_index(served.folder, served.index.embedder, changes=changes, deletes=deletes)
        except CorpusError as exc:
            status, field = (404, "id") if deletes and "not in" in str(exc) else (422, "documents")
            kind = "not_found" if status == 404 else "invalid_request"
            raise ApiError(status, str(exc), field=field, kind=kind) from exc
        except CtxEmbedError as exc:
            if "another update" in str(exc):
                raise ApiError(409, str(exc), field="index", kind="conflict") from exc
            raise
        self.get(name, "index")  # loads the new generation before the response
        return UpdateResponse(index=name, added=report.added, replaced=report.replaced, deleted=report.deleted,
                              documents=report.documents, generation=report.generation,
                              took_ms=report.seconds * 1000)  # fmt: skip

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
        try:  # an unreadable query: no hits
            rows = served.index.search(queries, k=request.k, mode=mode, unknown="skip", filter=request.filter or None)
        except CtxEmbedError as exc:  # a filter on a field no document has, of the wrong type, or malformed
            if not request.filter:
                raise
            raise ApiError(422, str(exc), field="filter") from exc
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


def internal_error(exc: BaseException) -> str:
    """An internal failure named by its type, without its message (which may hold paths or data)."""
    return f"internal error ({type(exc).__name__})"
