"""Request and response bodies of the API (pydantic models: FastAPI validates them and documents them in OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are an error that names them, like unknown config keys."""

    model_config = ConfigDict(extra="forbid")


class SearchRequest(Strict):
    index: str = Field(description="A loaded index's name (GET /indexes lists them).")
    query: str | None = Field(default=None, description="One query; or give `queries`.")
    queries: list[str] | None = Field(default=None, description="Several queries, answered in order.")
    k: int = Field(default=10, ge=1, description="Hits per query (at most the service's max_k).")
    mode: Literal["dense", "sparse", "hybrid"] | None = Field(
        default=None, description="dense (embeddings), sparse (BM25) or hybrid (both fused); default: the index's."
    )
    filter: list[str] | None = Field(
        default=None,
        description="Metadata conditions, all of which must hold: field=value, field!=value, 'field in a,b', "
        "field>=3 (also >, <=, <).",
    )


class Hit(BaseModel):
    id: str
    title: str
    score: float
    scores: dict[str, float] | None = Field(default=None, description="Hybrid search: each side's score.")
    snippet: str = Field(description="The best passage of the document (its beginning for a short one).")
    passage: tuple[int, int] | None = Field(
        default=None, description="The best passage's [start, end) characters in the document (title. text)."
    )


class QueryHits(BaseModel):
    query: str
    hits: list[Hit]


class SearchResponse(BaseModel):
    index: str
    mode: str
    results: list[QueryHits]
    took_ms: float


class EmbeddingsRequest(Strict):
    model: str = Field(description="A loaded index's name: its embedder encodes the input.")
    input: str | list[str] = Field(description="A text or a list of texts.")
    input_type: Literal["query", "document"] | None = Field(
        default=None, description="query (the model's query prompt, if any) or document; default: query."
    )
    encoding_format: Literal["float", "base64"] | None = Field(
        default=None,
        description="float (a list of numbers, the default) or base64 (little-endian float32 bytes, as OpenAI sends).",
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="Only the model's own dimension: these models cannot shorten embeddings."
    )
    user: str | None = Field(default=None, description="Ignored (OpenAI compatibility).")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="The vector, or its float32 bytes in base64.")


class Model(BaseModel):
    """One served index, in OpenAI's model shape (`GET /v1/models`)."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When the index was built (Unix seconds).")
    owned_by: str = "ctxembed"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class DocumentIn(Strict):
    id: str = Field(min_length=1, description="The document's id: a new one is added, an existing one replaced.")
    text: str = Field(description="The document's text.")
    title: str = Field(default="", description="Its title, if it has one.")
    metadata: dict[str, str | bool | int | float | list[str]] = Field(
        default_factory=dict, description="Fields to filter on: strings, numbers, booleans, lists of strings."
    )


class DocumentsRequest(Strict):
    index: str = Field(description="A loaded index's name.")
    documents: list[DocumentIn] = Field(description="Documents to add or replace, as one atomic update.")


class UpdateResponse(BaseModel):
    index: str
    added: int
    replaced: int
    deleted: int
    documents: int = Field(description="Documents in the index after the update.")
    generation: int = Field(description="The index's generation after the update (0: as built).")
    took_ms: float
