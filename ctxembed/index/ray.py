"""Encoding on Ray workers (`ctxembed index --engine ray`): on the cores of one machine, or on a cluster.

Each worker is a Ray actor that re-creates the embedder from its identity (the same record an index
manifest keeps, so workers load the very model the driver checked, at the precision the driver resolved:
a worker that cannot run it refuses to start) and encodes shards of each chunk. `ActorPool.map` returns the shards in order, so the driver adds vectors to FAISS in corpus
order and the index equals a single-process build. The caller starts Ray (`ray.init`); this module
only uses the running instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from ctxembed.errors import CtxEmbedError


@cache
def _actor_class() -> Any:
    import ray

    @ray.remote(num_cpus=1)
    class EncodeWorker:
        def __init__(self, identity: dict[str, Any], batch_size: int) -> None:
            import torch

            from ctxembed.registry import embedder_from_identity

            torch.set_num_threads(1)  # one core per worker: Ray schedules by cores
            self.embedder = embedder_from_identity(identity)
            self.batch_size = batch_size
            here = self.embedder.identity().get("precision")
            if here != identity.get("precision"):  # the driver resolved it; every shard must be encoded alike
                raise CtxEmbedError(
                    f"a Ray worker encodes {identity.get('model')} at {here}, not at {identity.get('precision')} "
                    f"like the driver (its hardware differs); index with --precision {here} or on like machines"
                )

        def encode(self, texts: list[str]) -> np.ndarray:
            return self.embedder.encode_documents(texts, batch_size=self.batch_size)

    return EncodeWorker


class RayEncoder:
    """A callable that encodes documents on `workers` Ray actors, in order."""

    def __init__(self, identity: dict[str, Any], *, workers: int | None = None, batch_size: int = 64) -> None:
        from ctxembed.assets import require

        ray = require("ray", "--engine ray: pip install 'ctxembed[scale]' (or pip install ray)")
        from ray.util import ActorPool

        if not ray.is_initialized():
            raise CtxEmbedError("start Ray first (ray.init(), or `ctxembed index --engine ray [--address ADDR]`)")
        workers = workers or max(1, int(ray.available_resources().get("CPU", 1)))
        self.workers = workers
        self.pool = ActorPool([_actor_class().remote(identity, batch_size) for _ in range(workers)])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        size = max(1, -(-len(texts) // (2 * self.workers)))  # two shards a worker keeps every worker busy
        shards = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        return np.concatenate(list(self.pool.map(lambda actor, shard: actor.encode.remote(shard), shards)))
