"""Content fingerprints of model and adapter folders: what an index manifest compares."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_FINGERPRINT_SUFFIXES = (".safetensors", ".bin")
_FINGERPRINT_CONFIGS = ("modules.json", "sentence_bert_config.json", "config.json", "adapter_config.json")
_NOT_WEIGHTS = ("training_args.bin", "optimizer.bin", "scheduler.bin")


def folder_fingerprint(folder: str | Path) -> str | None:
    """A short content hash of a model or adapter folder, or None if it holds no weights.

    It covers every weight file (sharded or not, module subfolders too), `modules.json`, the
    module configs and `adapter_config.json` (whose `lora_alpha` changes outputs with identical
    weights). Paths inside the folder count, where it lives does not: a moved copy hashes the same.
    """
    root = Path(folder)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and "checkpoint" not in p.parts[-2]
        and ((p.suffix in _FINGERPRINT_SUFFIXES and p.name not in _NOT_WEIGHTS) or p.name in _FINGERPRINT_CONFIGS)
    )
    if not any(p.suffix in _FINGERPRINT_SUFFIXES for p in files):
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        if file.name == "adapter_config.json":  # the base is checked by name on load; its path is no content
            config = json.loads(file.read_text(encoding="utf-8"))
            config.pop("base_model_name_or_path", None)
            digest.update(json.dumps(config, sort_keys=True).encode())
            continue
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
