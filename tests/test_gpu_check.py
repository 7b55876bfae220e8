"""The prepared GPU check runs end to end on CPU (tiny model, a few steps), so a GPU run finds no bug a CPU run could."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_tiny_cpu_mode_writes_every_part(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--device", "cpu", "--tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "gpu_check.json").read_text())
    assert results["failed"] == [] and results["environment"]["device"] == "cpu"
    assert "skipped" in results["cuda_tests"]["summary"]  # no CUDA here: the gpu-marked tests skip
    runs = {(r["mode"], r["steps"]) for r in results["training"]}
    assert runs == {("lora", 2), ("lora", 4), ("full", 2), ("full", 4)}
    for row in results["training"]:
        assert row["steps_per_s"] > 0 and 0 <= row["before"] <= 1 and 0 <= row["after"] <= 1
        assert {"delta", "low", "high"} <= set(row["gain"])
    lora_params = {r["trainable_params"] for r in results["training"] if r["mode"] == "lora"}
    full_params = {r["trainable_params"] for r in results["training"] if r["mode"] == "full"}
    assert max(lora_params) < min(full_params)
    assert results["encode"][0]["precision"] == "fp32" and results["encode"][0]["ratio"] > 0
    assert (tmp_path / "gpu_check.log").read_text().strip().endswith("all parts passed in " + f"{results['seconds']}s")
