"""Installed versions checked against what transformers' PEFT integration demands, before LoRA is used."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ctxembed.errors import DependencyError

FIX = "install the tested set: pip install -r requirements.lock (or make setup), or pip install 'transformers<5.24'"


def required_peft() -> str | None:
    """The oldest peft that the installed transformers accepts for adapters, or None if it names none."""
    try:
        from transformers.integrations.peft import MIN_PEFT_VERSION

        return str(MIN_PEFT_VERSION)
    except ImportError:
        pass
    try:
        from transformers.dependency_versions_table import deps
    except ImportError:
        return None
    spec = deps.get("peft", "")
    return spec.split(">=", 1)[1].split(",")[0].strip() if ">=" in spec else None


def check_peft_versions() -> None:
    """Raise `DependencyError` (one line naming both versions and the fix) when peft is missing or too old."""
    from packaging.version import Version

    try:
        peft_version = version("peft")
        transformers_version = version("transformers")
    except PackageNotFoundError as exc:
        raise DependencyError(f"LoRA needs {exc.name}, which is not installed; {FIX}") from exc
    needed = required_peft()
    if needed is not None and Version(Version(peft_version).base_version) < Version(needed):
        raise DependencyError(
            f"transformers {transformers_version} needs peft >= {needed} for LoRA adapters, but peft "
            f"{peft_version} is installed (the newest peft may be older than that transformers expects); {FIX}"
        )
