"""The indexes a service answers from: each loaded once, with its manifest's embedder and checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxembed.errors import CtxEmbedError


@dataclass(frozen=True)
class ServedIndex:
    """One loaded index under the name clients use for it (its folder's name)."""

    name: str
    folder: Path
    index: Any  # VectorIndex: its embedder and document store are safe to share between requests
    manifest: dict[str, Any]
    stamp: tuple[int, int] = (0, 0)  # the manifest file's (inode, mtime) when it loaded: an update replaces it

    @property
    def backend(self) -> str:
        """static or contextual, as the manifest records."""
        return str(self.manifest["embedder"]["backend"])

    @property
    def modes(self) -> list[str]:
        """The search modes this index answers."""
        return ["dense", "sparse", "hybrid"] if self.index.sparse is not None else ["dense"]

    def summary(self) -> dict[str, Any]:
        """What `GET /indexes` shows of it."""
        embedder = self.manifest.get("embedder", {})
        return {
            "name": self.name,
            "backend": self.backend,
            "embedder": embedder.get("model"),
            "adapter": embedder.get("adapter"),
            "dim": embedder.get("dim"),
            "precision": embedder.get("precision", "fp32"),
            "fingerprint": embedder.get("fingerprint"),
            "count": len(self.index),
            "modes": self.modes,
            "default_mode": self.index.default_mode.value,
            "fusion": self.manifest.get("fusion"),
            "passages": self.manifest.get("passages"),
        }

    def model(self) -> Any:
        """What `GET /v1/models` shows of it: OpenAI's model shape, created when the index was built."""
        from ctxembed.serve.schemas import Model

        try:
            created = int((self.folder / "manifest.json").stat().st_mtime)
        except OSError:
            created = 0
        return Model(id=self.name, created=created)


def index_names(folders: Sequence[str | Path]) -> list[str]:
    """Each folder's name; a repeated name must be told apart by the user."""
    names = [Path(f).resolve().name for f in folders]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CtxEmbedError(
            f"two indexes are both named {repeated[0]!r} (the folder name is the index's name in the API); "
            f"rename or link one of the folders"
        )
    return names


def check_index(folder: str | Path) -> dict[str, Any]:
    """The folder's manifest, checked before anything loads (a bad folder stops the start at once)."""
    from ctxembed.index.files import read_manifest

    return read_manifest(folder)


def load_index(folder: str | Path, name: str, *, device: str | None = None) -> ServedIndex:
    """Load one index with the embedder its manifest records (fingerprint checked on load)."""
    from ctxembed.index import VectorIndex
    from ctxembed.registry import embedder_from_manifest

    manifest = check_index(folder)
    embedder = embedder_from_manifest(manifest, folder, device=device)
    stamp = manifest_stamp(folder)
    return ServedIndex(name, Path(folder), VectorIndex.load(folder, embedder), manifest, stamp)


def manifest_stamp(folder: str | Path) -> tuple[int, int]:
    """The (inode, mtime) of the folder's manifest: every update swaps in a new folder, so it changes."""
    try:
        stat = (Path(folder) / "manifest.json").stat()
    except OSError:
        return (0, 0)
    return (stat.st_ino, stat.st_mtime_ns)


def reloaded(served: ServedIndex) -> ServedIndex:
    """`served` again where its folder holds a newer generation (an update finished), with the same embedder;
    else `served` itself."""
    from ctxembed.index import VectorIndex

    stamp = manifest_stamp(served.folder)
    if stamp == served.stamp:
        return served
    index = VectorIndex.load(served.folder, served.index.embedder)
    return ServedIndex(served.name, served.folder, index, check_index(served.folder), stamp)
