"""The official OpenAI Python client against `ctxembed serve`: its default call, base64 and float, models, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

from tests.serve.server_calls import KEY, Server  # noqa: E402

pytestmark = pytest.mark.slow  # starts a server


@pytest.fixture(scope="module")
def client(index_dirs):
    running = Server(str(index_dirs / "static"), str(index_dirs / "contextual"), "--api-key", KEY).start()
    yield openai.OpenAI(base_url=f"http://127.0.0.1:{running.port}/v1", api_key=KEY, max_retries=0, timeout=30)
    running.stop()


def test_the_clients_default_call_works_and_base64_equals_float(client):
    texts = ["river bank", "web server network"]
    default = client.embeddings.create(model="contextual", input=texts)  # the client asks for base64
    floats = client.embeddings.create(model="contextual", input=texts, encoding_format="float", user="someone")
    assert [d.index for d in default.data] == [0, 1] and default.model == "contextual"
    a = np.asarray([d.embedding for d in default.data])
    b = np.asarray([d.embedding for d in floats.data])
    assert a.shape == (2, 32) and np.array_equal(a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert default.usage.total_tokens == 5


def test_models_lists_the_served_indexes(client):
    listed = client.models.list()
    assert [m.id for m in listed.data] == ["static", "contextual"]
    assert all(m.object == "model" and m.owned_by == "ctxembed" and m.created > 0 for m in listed.data)
    assert client.models.retrieve("static").id == "static"


def test_dimensions_is_honest_and_errors_have_openai_shape(client):
    same = client.embeddings.create(model="static", input="river", dimensions=16)
    assert len(same.data[0].embedding) == 16  # the model's own dimension is accepted
    with pytest.raises(openai.BadRequestError, match=r"gives 16-dimensional embeddings and cannot shorten") as info:
        client.embeddings.create(model="static", input="river", dimensions=8)
    assert info.value.body["param"] == "dimensions"
    with pytest.raises(openai.NotFoundError, match="no index named 'nope'"):
        client.embeddings.create(model="nope", input="river")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")
