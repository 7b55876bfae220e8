"""`ctxembed serve`: a real server in a subprocess on a free local port, queried over HTTP (stdlib client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.serve.server_calls import KEY, Server, call, free_port  # noqa: E402

pytestmark = pytest.mark.slow  # starts servers (a few seconds each)


@pytest.fixture(scope="module")
def server(index_dirs):
    running = Server(
        str(index_dirs / "static"), str(index_dirs / "contextual"),
        "--api-key", KEY, "--max-k", "20", "--max-batch", "4", "--max-body-bytes", "4096",
    ).start()  # fmt: skip
    yield running
    running.stop()


def test_every_route_answers(server):
    port = server.port
    assert call(port, "GET", "/health", key=None) == (200, {"status": "ok"})
    status, ready = call(port, "GET", "/ready")
    assert status == 200 and ready["loaded"] == ["static", "contextual"]
    status, listed = call(port, "GET", "/indexes")
    summary = {i["name"]: i for i in listed["indexes"]}
    assert summary["contextual"]["backend"] == "contextual" and summary["static"]["count"] == 60
    assert summary["static"]["modes"] == ["dense", "sparse", "hybrid"]
    status, found = call(port, "POST", "/search", {"index": "static", "queries": ["river bank", "money loan"], "k": 3})
    assert status == 200 and found["mode"] == "hybrid" and len(found["results"]) == 2
    hit = found["results"][0]["hits"][0]
    assert hit["title"].startswith("doc ") and set(hit["scores"]) == {"dense", "sparse", "fused"} and hit["snippet"]
    status, quick = call(port, "GET", "/search?index=contextual&q=river%20bank&k=2&mode=dense")
    assert status == 200 and len(quick["results"][0]["hits"]) == 2 and quick["took_ms"] >= 0
    status, embedded = call(port, "POST", "/v1/embeddings", {"model": "contextual", "input": ["river bank", "water"]})
    assert status == 200 and embedded["object"] == "list" and embedded["model"] == "contextual"
    assert [d["index"] for d in embedded["data"]] == [0, 1] and len(embedded["data"][0]["embedding"]) == 32
    status, one = call(port, "POST", "/v1/embeddings", {"model": "static", "input": "river", "input_type": "document"})
    assert status == 200 and len(one["data"]) == 1 and one["usage"]["total_tokens"] == 1
    status, senses = call(port, "GET", "/senses?word=bank")
    assert status == 200 and senses["word"] == "bank" and len(senses["points"]) == len(senses["labels"])
    assert set(senses["neighbours"]) == {"static"} and senses["senses"][0]["examples"]
    status, schema = call(port, "GET", "/openapi.json")
    assert status == 200 and {"/search", "/v1/embeddings", "/indexes", "/ready"} <= set(schema["paths"])
    status, page = call(port, "GET", "/", key=None)
    assert status == 200 and "<title>ctxembed" in page and call(port, "GET", "/page/app.js", key=None)[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/search", {"query": "river"}, 422, "index"),
        ("POST", "/search", {"index": "nope", "query": "river"}, 404, "index"),
        ("POST", "/search", {"index": "static", "query": "river", "k": 21}, 422, "k"),
        ("POST", "/search", {"index": "static", "queries": ["a"] * 5}, 422, "queries"),
        ("POST", "/search", {"index": "static", "query": "river", "mode": "fuzzy"}, 422, "mode"),
        ("POST", "/search", {"index": "static", "query": "river", "kk": 1}, 422, "kk"),
        ("GET", "/search?index=static&q=river&mode=fuzzy", None, 422, "mode"),
        ("POST", "/v1/embeddings", {"model": "nope", "input": "x"}, 404, "model"),
        ("POST", "/v1/embeddings", {"model": "static", "input": ["x"] * 5}, 422, "input"),
        ("POST", "/v1/embeddings", {"model": "static"}, 422, "input"),
        ("POST", "/search", {"index": "static", "query": "x" * 5000}, 413, "body"),
        ("GET", "/page/secrets.txt", None, 404, "name"),
    ],
)
def test_each_bad_request_is_a_4xx_that_names_the_field(server, method, path, body, status, field):
    got, answer = call(server.port, method, path, body)
    assert got == status and answer["error"]["field"] == field and answer["error"]["message"]


def test_the_api_key_guards_every_route_but_health(server):
    for key in (None, "wrong-key-000"):
        status, answer = call(server.port, "GET", "/indexes", key=key)
        assert status == 401 and answer["error"]["field"] == "authorization"
        assert call(server.port, "POST", "/search", {"index": "static", "query": "river"}, key=key)[0] == 401
    assert call(server.port, "GET", "/health", key=None)[0] == 200


def test_answers_match_ctxembed_search(server, index_dirs):
    for index in ("static", "contextual"):
        done = subprocess.run(
            [sys.executable, "-m", "ctxembed.cli", "search", str(index_dirs / index), "river bank water", "-k", "5", "--json"],
            capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        cli = json.loads(done.stdout)["hits"]
        _, api = call(server.port, "POST", "/search", {"index": index, "query": "river bank water", "k": 5})
        hits = api["results"][0]["hits"]
        assert [h["id"] for h in hits] == [h["doc_id"] for h in cli]
        assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in cli], abs=1e-6)


def test_an_internal_failure_is_a_500_that_leaks_no_path(index_dirs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(index_dirs / "static", broken)
    running = Server(str(broken)).start()
    try:
        (broken / "docs.jsonl").write_bytes(b"\x00" * 10)  # the store under the loaded index is gone bad
        status, answer = call(running.port, "POST", "/search", {"index": "broken", "query": "river bank"}, key=None)
        assert status == 500 and answer["error"]["type"] and "internal error" in answer["error"]["message"]
        text = json.dumps(answer)
        assert str(tmp_path) not in text and "Traceback" not in text and "/" not in answer["error"]["message"]
        assert call(running.port, "GET", "/health", key=None)[0] == 200  # the service lives on
    finally:
        running.stop()


def test_a_restart_answers_the_same(index_dirs):
    query = {"index": "contextual", "query": "money loan deposit", "k": 4}
    first = Server(str(index_dirs / "contextual")).start()
    try:
        before = call(first.port, "POST", "/search", query, key=None)
    finally:
        first.stop()
    again = Server(str(index_dirs / "contextual"))
    again.port = first.port
    again.start()
    try:
        after = call(again.port, "POST", "/search", query, key=None)
    finally:
        again.stop()
    assert before[0] == after[0] == 200
    assert before[1]["results"] == after[1]["results"]


def test_an_index_that_fails_to_load_stops_the_start(index_dirs, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    serve = [sys.executable, "-m", "ctxembed.cli", "serve", "--port", str(free_port())]
    done = subprocess.run([*serve, str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "is not a ctxembed index" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    broken = tmp_path / "cut"
    shutil.copytree(index_dirs / "static", broken)
    (broken / "index.faiss").write_bytes(b"not faiss")  # the manifest reads fine; loading fails after start
    done = subprocess.run([*serve, str(broken)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode in (1, 3) and "ctxembed: error:" in done.stderr and "Traceback" not in done.stderr


def test_binding_beyond_this_machine_without_a_key_warns(index_dirs):
    running = Server(str(index_dirs / "static"), "--host", "0.0.0.0")
    running.start()
    running.stop()
    assert "without an API key" in running.process.stderr.read()


def test_documents_routes_and_an_outside_update_are_seen_by_the_next_search(index_dirs, tmp_path, tiny_vectors):
    folder = tmp_path / "static"
    shutil.copytree(index_dirs / "static", folder)
    running = Server(str(folder), "--api-key", KEY).start()
    try:
        port = running.port
        body = {"index": "static", "documents": [{"id": "fresh", "text": "zebra zebra river"}]}
        assert call(port, "POST", "/documents", body, key=None)[0] == 401  # behind the key
        status, done = call(port, "POST", "/documents", body)
        assert status == 200 and (done["added"], done["documents"], done["generation"]) == (1, 61, 1)
        status, found = call(port, "POST", "/search", {"index": "static", "query": "zebra", "k": 1, "mode": "sparse"})
        assert found["results"][0]["hits"][0]["id"] == "fresh"
        status, gone = call(port, "DELETE", "/documents/fresh?index=static")
        assert status == 200 and gone["deleted"] == 1 and gone["documents"] == 60
        status, found = call(port, "POST", "/search", {"index": "static", "query": "zebra", "k": 1, "mode": "sparse"})
        assert status == 200 and found["results"][0]["hits"] == []
        status, error = call(port, "DELETE", "/documents/no-such-id?index=static")
        assert status == 404 and error["error"]["field"] == "id"
        status, error = call(port, "POST", "/documents", {"index": "static", "documents": []})
        assert status == 422 and error["error"]["field"] == "documents"
        tagged = {"index": "static", "documents": [{"id": "t1", "text": "river water", "metadata": {"lang": "en"}}]}
        assert call(port, "POST", "/documents", tagged)[0] == 200
        status, found = call(port, "POST", "/search", {"index": "static", "query": "river", "filter": ["lang=en"]})
        assert status == 200 and [h["id"] for h in found["results"][0]["hits"]] == ["t1"]
        status, error = call(port, "POST", "/search", {"index": "static", "query": "river", "filter": ["colour=red"]})
        assert status == 422 and error["error"]["field"] == "filter" and "colour" in error["error"]["message"]
        from ctxembed.data import Document
        from ctxembed.index.update import update_index
        from ctxembed.registry import embedder_from_manifest

        manifest = json.loads((folder / "manifest.json").read_text())
        update_index(
            folder, embedder_from_manifest(manifest, folder), changes=[Document("outside", "okapi river water")]
        )
        status, found = call(port, "POST", "/search", {"index": "static", "query": "okapi", "k": 1, "mode": "sparse"})
        assert found["results"][0]["hits"][0]["id"] == "outside"  # picked up without a restart
    finally:
        running.stop()
