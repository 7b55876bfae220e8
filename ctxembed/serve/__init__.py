"""`ctxembed serve`: search, embeddings and a comparison page over saved indexes (FastAPI + uvicorn).

An optional part: importing it checks its extras (`pip install 'ctxembed[serve]'`).
"""

from __future__ import annotations

from ctxembed.assets import require

INSTALL = "ctxembed serve: pip install 'ctxembed[serve]' (FastAPI and uvicorn)"
require("fastapi", INSTALL)
require("uvicorn", INSTALL)

from ctxembed.serve.app import create_app  # noqa: E402
from ctxembed.serve.settings import ServeConfig  # noqa: E402

__all__ = ["ServeConfig", "create_app"]
