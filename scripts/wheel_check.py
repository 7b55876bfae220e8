"""The built wheel on its own: build it, install it with the locked packages into a clean venv outside the
checkout, and run `ctxembed --help`, an `index` and a `search` on the packaged defaults from an empty folder.

    python scripts/wheel_check.py [--keep DIR]

Exit 0 when every step worked; otherwise the failing step's command and output.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def step(title: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"wheel check: {title} failed (exit {done.returncode}): {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    print(f"ok  {title} ({time.perf_counter() - started:.1f}s)", flush=True)
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctxembed-wheel-") as tmp:
        work = Path(args.keep or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        pip = [sys.executable, "-m", "pip"]
        step(
            "build the wheel",
            [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work), str(ROOT)],
            work,
            env,
        )
        wheel = next(work.glob("ctxembed-*.whl"))
        venv = work / "venv"
        step("create a clean venv", [sys.executable, "-m", "venv", str(venv)], work, env)
        python = str(venv / "bin" / "python")
        lock = str(ROOT / "requirements.lock")
        # uv (in the lock) installs in seconds; pip does the same job where uv is missing
        uv = shutil.which("uv", path=str(Path(sys.executable).parent))
        install = [uv, "pip", "install", "-q", "--python", python] if uv else [python, "-m", "pip", "install", "-q"]
        if uv and os.environ.get("PIP_FIND_LINKS"):
            env.setdefault("UV_FIND_LINKS", os.environ["PIP_FIND_LINKS"])  # the local torch CPU wheel
        step("install the locked packages", [*install, "--no-deps", "-r", lock], work, env)
        step(f"install {wheel.name}", [*install, "--no-deps", str(wheel)], work, env)
        empty = work / "elsewhere"
        empty.mkdir(exist_ok=True)
        where = step(
            "import from site-packages", [python, "-c", "import ctxembed; print(ctxembed.__file__)"], empty, env
        )
        if str(ROOT) in where:
            sys.exit(f"wheel check: ctxembed was imported from the checkout ({where.strip()}), not the wheel")
        cli = str(venv / "bin" / "ctxembed")
        step("ctxembed --help", [cli, "--help"], empty, env)
        step(
            "ctxembed index (packaged GloVe, Lee corpus)",
            [cli, "index", "--backend", "static", "--out", "idx"],
            empty,
            env,
        )
        hits = step("ctxembed search", [cli, "search", "idx", "bushfires threaten homes", "-k", "3"], empty, env)
        if hits.count("\n") < 4:
            sys.exit(f"wheel check: search printed too few hits:\n{hits}")
        print(hits.rstrip())
    print("wheel check: the wheel installed on its own indexes and searches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
