"""The one place that maps a backend name to its embedder class; everything else asks the embedder."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from ctxembed.config import SETTINGS
from ctxembed.errors import CtxEmbedError
from ctxembed.types import Backend, Embedder

EMBEDDERS: dict[tuple[Backend, str], str] = {  # (backend, kind) -> the class that implements it
    (Backend.STATIC, "vectors"): "ctxembed.static.embedder:StaticEmbedder",
    (Backend.STATIC, "model2vec"): "ctxembed.static.distilled:DistilledEmbedder",
    (Backend.CONTEXTUAL, "sentence-transformers"): "ctxembed.contextual.embedder:ContextualEmbedder",
}


def _backend(backend: Backend | str) -> Backend:
    try:
        return Backend(backend)
    except ValueError as exc:
        raise CtxEmbedError(
            f"unknown backend {backend!r}; choose one of {', '.join(b.value for b in Backend)}"
        ) from exc


def _kind(backend: Backend, *, settings: Any = None, identity: dict[str, Any] | None = None) -> str:
    """Which implementation of `backend` the settings (or a manifest's identity) ask for."""
    if backend is Backend.CONTEXTUAL:
        return "sentence-transformers"
    from ctxembed.static.distilled import POOLING, is_model2vec_folder

    if identity is not None:
        return "model2vec" if identity.get("pooling") == POOLING else "vectors"
    from ctxembed.assets import resolve_data_path

    return "model2vec" if is_model2vec_folder(resolve_data_path(settings.vectors)) else "vectors"


def embedder_class(backend: Backend | str, kind: str | None = None) -> Any:
    """The class that implements `backend` (of `kind`; default its first), imported on first use (torch is
    heavy)."""
    backend = _backend(backend)
    key = (backend, kind) if kind is not None else next(k for k in EMBEDDERS if k[0] is backend)
    module, _, name = EMBEDDERS[key].partition(":")
    return getattr(import_module(module), name)


def load_embedder(backend: Backend | str, settings: Any = None) -> Embedder:
    """Load the embedder of `backend` as its settings say (defaults: GloVe 50d or MiniLM); a static model's
    `vectors` may be word vectors or a model2vec folder (e.g. from `ctxembed distill`)."""
    backend = _backend(backend)
    settings = settings or SETTINGS[backend]()
    return embedder_class(backend, _kind(backend, settings=settings)).from_config(settings)


def embedder_from_identity(identity: dict[str, Any], *, device: str | None = None) -> Embedder:
    """Re-create the embedder an index manifest records (the index checks its fingerprint)."""
    if not isinstance(identity, dict) or identity.get("backend") not in {b.value for b in Backend}:
        backend = identity.get("backend") if isinstance(identity, dict) else identity
        raise CtxEmbedError(f"the index manifest names an unknown backend {backend!r}; rebuild the index")
    backend = Backend(identity["backend"])
    cls = embedder_class(backend, _kind(backend, identity=identity))
    missing = [key for key in cls.IDENTITY_KEYS if not isinstance(identity.get(key), str | bool)]
    if missing:
        raise CtxEmbedError(
            f"the index manifest's 'embedder' lacks or mistypes {', '.join(map(repr, missing))}; the manifest is "
            f"damaged: rebuild the index"
        )
    return cls.from_identity(identity, device=device)  # a failure to load the model keeps its own message


def embedder_from_manifest(
    manifest: dict[str, Any],
    folder: str | Path,
    *,
    device: str | None = None,
    model: str | None = None,
    adapter: str | None = None,
    precision: str | None = None,
) -> Embedder:
    """The embedder a saved index records, found where it is now: explicit paths first, then the
    recorded ones, then paths relative to the index folder (for a `runs/` moved as a whole)."""
    identity = dict(manifest["embedder"])
    hints = manifest.get("relative_paths") or {}
    for key, given in (("model", model), ("adapter", adapter)):
        recorded = identity.get(key)
        if given is not None:
            identity[key] = given
        elif isinstance(recorded, str) and Path(recorded).is_absolute() and not Path(recorded).exists():
            moved = Path(folder) / str(hints.get(key, ""))
            if key in hints and moved.exists():
                identity[key] = str(moved.resolve())
    if precision is not None:
        identity["precision"] = precision  # contextual only; other backends ignore it
    return embedder_from_identity(identity, device=device)


def finetune_config_class(path: str | Path | None, backend: str | None = None) -> type:
    """The finetune config class a YAML file asks for through its `backend` key (default contextual)."""
    import yaml

    from ctxembed.errors import ConfigError

    if backend is None and path is not None and Path(path).is_file():
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        backend = data.get("backend") if isinstance(data, dict) else None
    from ctxembed.contextual.settings import ContextualFinetuneConfig
    from ctxembed.static.settings import StaticFinetuneConfig

    finetune = {Backend.STATIC.value: StaticFinetuneConfig, Backend.CONTEXTUAL.value: ContextualFinetuneConfig}
    return finetune.get(str(backend), ContextualFinetuneConfig)
