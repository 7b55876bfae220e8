"""The service's limits without a server: the concurrency gate (429 when full, 504 on timeout) and its settings."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("fastapi")

from ctxembed.errors import ConfigError  # noqa: E402
from ctxembed.serve.limits import ApiError, Gate  # noqa: E402
from ctxembed.serve.settings import ServeConfig  # noqa: E402


def test_the_gate_queues_then_refuses_with_429():
    release = threading.Event()

    async def scenario() -> list[object]:
        gate = Gate(slots=1, queue=1)
        running = asyncio.create_task(gate.run(release.wait, timeout=10))  # computes
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(gate.run(lambda: "queued", timeout=10))  # waits for the slot
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as refused:
            await gate.run(lambda: "refused", timeout=10)
        release.set()
        return [refused.value.status, await running, await waiting]

    status, first, second = asyncio.run(scenario())
    assert status == 429 and first is True and second == "queued"


def test_a_slow_request_times_out_with_504_and_frees_its_slot():
    stop = threading.Event()

    async def scenario() -> tuple[int, str]:
        gate = Gate(slots=1, queue=0)
        with pytest.raises(ApiError) as late:
            await gate.run(lambda: stop.wait(5), timeout=0.05)
        stop.set()
        return late.value.status, await gate.run(lambda: "next", timeout=5)

    assert asyncio.run(scenario()) == (504, "next")


def test_serve_settings_refuse_bad_limits():
    assert ServeConfig().local_only and not ServeConfig(host="0.0.0.0").local_only
    with pytest.raises(ConfigError, match="max_k"):
        ServeConfig(max_k=0)
    with pytest.raises(ConfigError, match="port"):
        ServeConfig(port=70000)
    with pytest.raises(ConfigError, match="api_key"):
        ServeConfig(api_key="short")
