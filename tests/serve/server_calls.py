"""A real `ctxembed serve` for tests: free port, subprocess, stdlib HTTP client, and the indexes it serves."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.tiny_bert import WORDS

KEY = "test-key-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, body: Any = None, *, key: str | None = KEY, raw: bytes | None = None) -> tuple[int, Any]:  # fmt: skip
    """(status, parsed JSON or text) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Server:
    """`ctxembed serve` in a subprocess; `start` waits until /ready answers 200."""

    def __init__(self, *args: str) -> None:
        self.args, self.port, self.process = args, free_port(), None

    def start(self) -> Server:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        command = [sys.executable, "-m", "ctxembed.cli", "serve", *self.args, "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stderr.read()}")
            try:
                if call(self.port, "GET", "/ready")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("server not ready in 120 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    content = [w for w in WORDS if len(w) > 3 and w != "bank"]
    return [f"the {' '.join(rng.sample(content, 3))} bank near {' '.join(rng.sample(content, 2))}." for _ in range(n)]


def build_indexes(root: Path, tiny_bert_dir: Path, tiny_vectors: Any) -> Path:
    """A static and a contextual index (both with BM25) of 60 documents, saved as `ctxembed index` would."""
    from ctxembed import VectorIndex
    from ctxembed.config import StaticConfig
    from ctxembed.contextual.embedder import ContextualEmbedder
    from ctxembed.data import Document
    from ctxembed.static.embedder import StaticEmbedder

    vectors = root / "tiny.vec"
    tiny_vectors.save_word2vec_format(str(vectors))
    lines = sentences(120)
    docs = [Document(f"d{i}", f"{lines[2 * i]} {lines[2 * i + 1]}", title=f"doc {i}") for i in range(60)]
    static = StaticEmbedder.from_config(StaticConfig(vectors=str(vectors)))
    VectorIndex.build(static, docs, sparse=True).save(root / "static")
    VectorIndex.build(ContextualEmbedder.load(str(tiny_bert_dir)), docs, sparse=True).save(root / "contextual")
    return root
