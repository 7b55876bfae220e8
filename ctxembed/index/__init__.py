"""Saved vector indexes: FAISS vectors, the documents, an optional BM25 side, and the manifest that ties them
to the model that built them.

- `vector_index`: `VectorIndex`, searched in dense, sparse or hybrid mode, saved and loaded.
- `build`: the streaming, checkpointed, resumable build behind `ctxembed index` (and `VectorIndex.build`).
- `store`: the documents on disk (`docs.jsonl` + offsets), read on demand.
- `files`: the folder's files, manifest checks and checksums.
- `ray`: encoding shards on Ray workers.
"""

from __future__ import annotations

from ctxembed.index.build import build_index
from ctxembed.index.files import read_manifest
from ctxembed.index.vector_index import VectorIndex

__all__ = ["VectorIndex", "build_index", "read_manifest"]
