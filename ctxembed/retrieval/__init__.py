"""Lexical retrieval (BM25 through bm25s) and its fusion with dense scores: shared by the index, evaluation
and training."""
