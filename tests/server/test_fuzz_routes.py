"""Schema-based fuzzing of every route of a real ``pluma serve``: no request,
however odd, gets a 500 or an error that is not JSON.

Requests come from the server's own OpenAPI document (``/openapi.json``):
bodies from each operation's request schema (:func:`from_schema`), mixed
with arbitrary JSON and bodies that are not JSON at all; path parameters
from the ids of objects that exist (so handlers get past "not found") and
from arbitrary text; query parameters from their schemas. The chat routes
take the raw request, so their bodies come from a small schema of the chat
shapes here. URLs in bodies are replaced by a closed loopback port: nothing
leaves this machine.

Bounded and repeatable: a fixed number of examples per route, derandomized
(the same requests every run), no example database; it runs in seconds.
A 502/503 is allowed (an upstream or store that is not there), a 500 never.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.server_process import PlumaServer

EXAMPLES = 25

CHAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "stream": {"type": "boolean"},
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "system": {"type": "string"},
        "conversation_id": {"type": "string"},
        "messages": {
            "type": "array",
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "role": {"enum": ["user", "assistant", "system", "tool", "developer", "x"]},
                    "content": {
                        "anyOf": [
                            {"type": "string"},
                            {
                                "type": "array",
                                "maxItems": 3,
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "type": {
                                            "enum": [
                                                "text",
                                                "image",
                                                "image_url",
                                                "tool_use",
                                                "tool_result",
                                                "thinking",
                                            ]
                                        },
                                        "text": {"type": "string"},
                                    },
                                },
                            },
                            {"type": "null"},
                        ]
                    },
                },
            },
        },
    },
}
CHAT_ROUTES = {("post", "/v1/chat/completions"), ("post", "/v1/messages"), ("post", "/api/chat")}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
EDGE_INTS = st.sampled_from([2**64, 2**63, 10**30, -(2**63) - 1, 2**31, -1, 0])


def from_schema(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A strategy for values of a JSON schema as FastAPI writes them (type,
    enum, const, anyOf/oneOf/allOf, $ref into ``root``, properties and
    required, items, string and number bounds). Hand-written because
    hypothesis-jsonschema 0.23 (the library for this) uses Hypothesis
    internals that current Hypothesis no longer has; valid-looking values are
    what matter here, not every corner of JSON Schema."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return st.deferred(lambda: from_schema(target, root))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, root) for s in schema[key]])
    if "allOf" in schema:
        return from_schema(schema["allOf"][0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, root) for k in kind])
    if kind == "string":
        return st.text(
            min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 30), 30)
        )
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = schema.get("items", {})
        return st.lists(
            from_schema(items, root) if items else JSON_VALUES,
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), 4),
        )
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v, root) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, root) for k, v in properties.items() if k not in required},
        )
    return JSON_VALUES


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumaServer]:
    with PlumaServer(tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: PlumaServer) -> dict[str, Any]:
    """The OpenAPI document, objects to aim at, and a URL nothing answers."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        conversations = [client.post("/api/conversations", json={}).json()["id"]]
        conversations.append(client.post("/api/conversations", json={"title": "2"}).json()["id"])
        connection = client.post(
            "/api/connections",
            json={"name": "fuzz", "compat": "openai", "base_url": dead + "/v1", "api_key": "k"},
        ).json()["id"]
        image = client.post(
            "/api/image-connections", json={"name": "img", "kind": "a1111", "base_url": dead}
        ).json()["id"]
    ids = {
        "conversation_id": conversations,
        "ref": [connection, "fuzz", image, "img"],
        "image_id": ["0" * 32],
    }
    return {"spec": spec, "ids": ids, "dead": dead}


def _operations() -> list[tuple[str, str]]:
    from pluma.server.app import create_app
    from pluma.server.config import Settings

    spec = create_app(Settings(secrets="memory", discovery=False)).openapi()
    return [(m, p) for p, ops in spec["paths"].items() for m in ops]


def _defuse(value: Any, dead: str) -> Any:
    """Every URL-ish field aimed at the closed loopback port."""
    if isinstance(value, dict):
        return {
            k: (dead if isinstance(k, str) and "url" in k.lower() else _defuse(v, dead))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_defuse(v, dead) for v in value]
    return value


def _with_edges(value: Any, edge: int) -> Any:
    """``value`` with its integers replaced by a boundary value (the kind
    that overflows a database column)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return edge
    if isinstance(value, dict):
        return {k: _with_edges(v, edge) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_edges(v, edge) for v in value]
    return value


def _body_strategy(operation: dict[str, Any], spec: dict[str, Any], chat: bool) -> Any:
    schema: dict[str, Any] | None = None
    if chat:
        schema = CHAT_SCHEMA
    else:
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return st.none()
    valid = from_schema(schema, spec)
    return st.one_of(
        valid,
        # twice: boundary integers are where handlers overflow
        st.tuples(valid, EDGE_INTS).map(lambda pair: _with_edges(*pair)),
        st.tuples(valid, EDGE_INTS).map(lambda pair: _with_edges(*pair)),
        JSON_VALUES,
        st.binary(max_size=40).map(lambda raw: ("raw", raw)),
    )


def _param_strategy(
    parameter: dict[str, Any], ids: dict[str, list[str]], spec: dict[str, Any]
) -> Any:
    if parameter["in"] == "path":
        known = ids.get(parameter["name"], ["x"])
        return st.one_of(st.sampled_from(known), st.text(min_size=1, max_size=30))
    return st.one_of(
        from_schema(parameter.get("schema", {}), spec), EDGE_INTS, st.text(max_size=10)
    )


@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_route_answers_500(
    server: PlumaServer, world: dict[str, Any], method: str, path: str
) -> None:
    spec = world["spec"]
    operation = spec["paths"][path][method]
    chat = (method, path) in CHAT_ROUTES
    parameters = {
        p["name"]: _param_strategy(p, world["ids"], spec) for p in operation.get("parameters", [])
    }
    body = _body_strategy(operation, spec, chat)
    client = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(params=st.fixed_dictionaries(parameters), payload=body)
    def probe(params: dict[str, Any], payload: Any) -> None:
        url = path
        query: dict[str, str] = {}
        for p in operation.get("parameters", []):
            value = params[p["name"]]
            text = json.dumps(value) if not isinstance(value, str) else value
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", quote(text, safe="") or "x")
            elif p["in"] == "query":
                query[p["name"]] = text
        kwargs: dict[str, Any] = {"params": query}
        if isinstance(payload, tuple) and payload[0] == "raw":
            kwargs["content"] = payload[1]
            kwargs["headers"] = {"content-type": "application/json"}
        elif payload is not None:
            kwargs["json"] = _defuse(payload, world["dead"])
        response = client.request(method.upper(), url, **kwargs)
        described = (
            f"{method.upper()} {url} {kwargs} -> {response.status_code} {response.text[:300]}"
        )
        assert response.status_code != 500, described
        assert response.status_code < 500 or response.status_code in (502, 503), described
        if response.status_code >= 400 and method != "head":
            assert response.headers.get("content-type", "").startswith("application/json"), (
                described
            )
            assert "error" in response.json(), described

    try:
        probe()
    finally:
        client.close()
    assert server.returncode is None
