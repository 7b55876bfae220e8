"""Saved vector indexes: FAISS vectors, the documents, an optional BM25 side, and the manifest that ties them
to the model that built them.

- `vector_index`: `VectorIndex` (searched in dense, sparse or hybrid mode) and `build_index`.
- `build`: the streaming, checkpointed, resumable build behind both (`write_index`).
- `vectors`: the dense side, a FAISS index; `store`: the documents on disk, read on demand.
- `persist`: writing and reading a folder; `files`: its files, manifest checks and identity.
- `checks`: the checks every way in shares; `ray`: encoding shards on Ray workers.
"""

from __future__ import annotations

from ctxembed.index.files import read_manifest
from ctxembed.index.vector_index import VectorIndex, build_index

__all__ = ["VectorIndex", "build_index", "read_manifest"]
