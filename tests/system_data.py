"""Skipping cleanly when a benchmark's Debian data is missing on this machine."""

from __future__ import annotations

import pytest


def require_debian_data(what: str) -> None:
    """Skip, naming the Debian packages to install, when a benchmark's system data is missing here."""
    import shutil

    from ctxembed.benchmarks.manpages import MAN_ROOT
    from ctxembed.evaluate.wordnet import WORDNET_DIR

    missing = {
        "manpages": not (MAN_ROOT / "man2").is_dir() or shutil.which("groff") is None,
        "wordnet": not (WORDNET_DIR / "data.noun").is_file(),
    }[what]
    if missing:
        packages = {"manpages": "manpages manpages-dev groff-base", "wordnet": "wordnet-base wordnet-sense-index"}
        pytest.skip(f"needs Debian's {what} data: apt-get install {packages[what]} (make does it as root)")
