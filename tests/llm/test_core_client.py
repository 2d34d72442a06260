"""Client, registry, options and key resolution: everything checked before a
byte leaves, proven by the upstream never seeing a request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.my_protocol import MyProtocolAdapter, MyProtocolOptions, model_at, text_reply
from tests.support.scripted_server import ScriptedServer

from pluma import llm
from pluma.llm.keys import ENV_KEYS, env_names, is_local_url, resolve_api_key

CTX = llm.Context(messages=[llm.UserMessage("Hi")])


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


# -- registry -------------------------------------------------------------------


def test_registry_replaces_on_re_register() -> None:
    first, second = MyProtocolAdapter(), MyProtocolAdapter()
    registry = llm.AdapterRegistry([first])
    registry.register(second)
    assert registry.get("my-protocol") is second
    assert registry.protocols() == ["my-protocol"]
    assert "my-protocol" in registry


def test_unknown_protocol_names_it_and_the_registered_ones() -> None:
    registry = llm.AdapterRegistry([MyProtocolAdapter()])
    with pytest.raises(llm.UnknownProtocolError) as info:
        registry.get("nope-protocol")
    text = str(info.value)
    assert "'nope-protocol'" in text and "my-protocol" in text
    assert info.value.registered == ["my-protocol"]
    # the client raises it at stream() time, before any request
    client = llm.Client(registry)
    model = llm.Model(id="m", provider="p", protocol="nope-protocol")
    with pytest.raises(llm.UnknownProtocolError):
        client.stream(model, CTX)


def test_empty_registry_says_none_registered() -> None:
    with pytest.raises(llm.UnknownProtocolError, match=r"registered: none"):
        llm.AdapterRegistry().get("x")


def test_register_rejects_objects_that_are_not_adapters() -> None:
    class NoKey:
        async def stream(self) -> None: ...

    class NoStream:
        protocol = "p"

    with pytest.raises(llm.ConfigurationError, match="protocol key"):
        llm.AdapterRegistry().register(NoKey())  # type: ignore[arg-type]
    with pytest.raises(llm.ConfigurationError, match="stream"):
        llm.AdapterRegistry().register(NoStream())  # type: ignore[arg-type]


def test_adapter_whose_stream_is_not_a_generator_is_reported() -> None:
    class Forgetful:
        protocol = "forgetful"

        async def stream(self, model: object, context: object, options: object) -> None:
            return None  # forgot to yield

    client = llm.Client(llm.AdapterRegistry([Forgetful()]))  # type: ignore[list-item]
    model = llm.Model(id="m", provider="p", protocol="forgetful")
    with pytest.raises(llm.ConfigurationError, match=r"Forgetful\.stream\(\) returned coroutine"):
        client.stream(model, CTX)


def test_builtin_protocols_are_in_the_default_registry() -> None:
    protocols = llm.default_client.registry.protocols()
    assert "openai-completions" in protocols and "anthropic-messages" in protocols


# -- options checked before the adapter -------------------------------------


class _OtherOptions:
    protocol = "openai-completions"

    def validate(self, tools: object) -> None:
        raise AssertionError("validate of foreign options must not run")


def test_options_of_another_protocol_are_rejected(server: ScriptedServer) -> None:
    server.reply(text_reply("x"))
    adapter = MyProtocolAdapter()
    client = llm.Client(llm.AdapterRegistry([adapter]))
    with pytest.raises(llm.ConfigurationError) as info:
        client.stream(
            model_at(server.url), CTX, llm.StreamOptions(protocol_options=_OtherOptions())
        )
    assert "openai-completions" in str(info.value) and "my-protocol" in str(info.value)
    assert adapter.calls == 0 and server.requests == []


async def test_validate_runs_before_the_adapter(server: ScriptedServer) -> None:
    server.reply(text_reply("ok"))
    adapter = MyProtocolAdapter()
    client = llm.Client(llm.AdapterRegistry([adapter]))
    tools = [llm.Tool("t", "a tool")]
    ctx = llm.Context(messages=[llm.UserMessage("Hi")], tools=tools)
    bad = MyProtocolOptions(safety="loose")
    with pytest.raises(llm.ConfigurationError, match="safety must be 'strict' or 'relaxed'"):
        client.stream(model_at(server.url), ctx, llm.StreamOptions(protocol_options=bad))
    assert bad.seen_tools == tools
    assert adapter.calls == 0 and server.requests == []
    good = MyProtocolOptions(safety="relaxed")
    message = await client.complete(
        model_at(server.url), ctx, llm.StreamOptions(protocol_options=good)
    )
    assert message.text == "ok"
    assert server.requests[0].json()["safety"] == "relaxed"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (llm.StreamOptions(temperature=3.0), "temperature"),
        (llm.StreamOptions(temperature=-0.1), "temperature"),
        (llm.StreamOptions(max_tokens=0), "max_tokens"),
        (llm.StreamOptions(reasoning="hgh"), "reasoning must be one of off, minimal"),  # type: ignore[arg-type]
        (llm.StreamOptions(max_retries=-1), "max_retries must be 0 or more"),
        (llm.StreamOptions(max_retry_delay=-1), "max_retry_delay"),
        (llm.StreamOptions(timeouts=llm.Timeouts(idle=0)), "timeouts.idle must be a positive"),
        (llm.StreamOptions(timeouts=llm.Timeouts(connect=-1)), "timeouts.connect"),
    ],
)
def test_invalid_common_options_are_rejected(
    server: ScriptedServer, options: llm.StreamOptions, match: str
) -> None:
    adapter = MyProtocolAdapter()
    with pytest.raises(llm.ConfigurationError, match=match):
        llm.Client(llm.AdapterRegistry([adapter])).stream(model_at(server.url), CTX, options)
    assert adapter.calls == 0 and server.requests == []


@pytest.mark.parametrize(
    ("tools", "match"),
    [
        ([llm.Tool("a", ""), llm.Tool("a", "again")], "two tools are named 'a'"),
        ([llm.Tool("", "")], "every tool needs a name"),
        (
            [llm.Tool("f", "", {"type": "array", "items": {"type": "string"}})],
            r"""tool 'f': parameters must describe an object \("type": "object"\), got "type": 'array'""",
        ),
        (
            [llm.Tool("g", "", "not a schema")],  # type: ignore[arg-type]
            r"tool 'g': parameters must be a JSON Schema object \(a dict\), got str",
        ),
    ],
)
def test_invalid_tools_are_rejected(
    server: ScriptedServer, tools: list[llm.Tool], match: str
) -> None:
    adapter = MyProtocolAdapter()
    ctx = llm.Context(messages=[llm.UserMessage("Hi")], tools=tools)
    with pytest.raises(llm.ConfigurationError, match=match):
        llm.Client(llm.AdapterRegistry([adapter])).stream(model_at(server.url), ctx)
    assert adapter.calls == 0 and server.requests == []


async def test_options_override_model_base_url_and_headers(server: ScriptedServer) -> None:
    server.reply(text_reply("ok"))
    client = llm.Client(llm.AdapterRegistry([MyProtocolAdapter()]))
    model = model_at("http://127.0.0.1:1", headers={"x-model": "m", "x-both": "model"})
    options = llm.StreamOptions(base_url=server.url, headers={"x-both": "options"})
    assert (await client.complete(model, CTX, options)).text == "ok"
    headers = server.requests[0].headers
    assert headers["x-model"] == "m" and headers["x-both"] == "options"


# -- API keys ---------------------------------------------------------------------


async def test_explicit_key_is_sent(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ME_API_KEY", "sk-from-env")
    server.reply(text_reply("ok"))
    client = llm.Client(llm.AdapterRegistry([MyProtocolAdapter()]))
    await client.complete(model_at(server.url), CTX, llm.StreamOptions(api_key="sk-explicit"))
    assert server.requests[0].headers["authorization"] == "Bearer sk-explicit"


def test_keys_and_headers_stay_out_of_reprs() -> None:
    """Logging options or a model (``%r``, f"{x!r}") must never log a secret."""
    options = llm.StreamOptions(
        api_key="sk-secret-option", headers={"authorization": "Bearer sk-secret-header"}
    )
    model = llm.Model(
        id="m", provider="p", protocol="openai-completions", headers={"x-api-key": "sk-model"}
    )
    for text in (repr(options), str(options), repr(model), f"{model!r}"):
        assert "sk-" not in text, text
    assert "max_retries=2" in repr(options) and "id='m'" in repr(model)


async def test_key_from_the_providers_variable(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ME_API_KEY", "sk-from-env")
    server.reply(text_reply("ok"))
    client = llm.Client(llm.AdapterRegistry([MyProtocolAdapter()]))
    await client.complete(model_at(server.url), CTX)
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-env"


async def test_loopback_needs_no_key(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.reply(text_reply("ok"))
    client = llm.Client(llm.AdapterRegistry([MyProtocolAdapter()]))
    model = model_at(server.url)
    model.provider = "openai"  # a provider that needs a key remotely
    await client.complete(model, CTX)
    assert "authorization" not in server.requests[0].headers


def test_missing_key_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_KEYS["anthropic"]:
        monkeypatch.delenv(name, raising=False)
    adapter = MyProtocolAdapter()
    client = llm.Client(llm.AdapterRegistry([adapter]))
    model = model_at("https://api.anthropic.com/v1")
    model.provider = "anthropic"
    with pytest.raises(llm.MissingAPIKeyError) as info:
        client.stream(model, CTX)
    text = str(info.value)
    assert "ANTHROPIC_API_KEY" in text and "ANTHROPIC_AUTH_TOKEN" in text
    assert "api_key=" in text  # says what to do
    assert info.value.checked == ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]
    assert adapter.calls == 0


async def test_env_key_is_not_sent_to_another_providers_server(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-secret")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server.reply(text_reply("ok"))
    client = llm.Client(llm.AdapterRegistry([MyProtocolAdapter()]))
    model = model_at(server.url)
    model.provider = "openai"  # an OpenAI-compatible server that is not OpenAI
    await client.complete(model, CTX)
    assert "authorization" not in server.requests[0].headers
    # ...unless the user pointed the provider there with OPENAI_BASE_URL
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    await client.complete(model, CTX)
    assert server.requests[1].headers["authorization"] == "Bearer sk-operator-secret"


def test_env_keys_go_to_official_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gk")
    monkeypatch.delenv("GROQ_BASE_URL", raising=False)
    assert resolve_api_key("groq", "https://api.groq.com/openai/v1", None) == "gk"
    assert resolve_api_key("groq", "", None) == "gk"
    assert resolve_api_key("groq", "https://groq.evil.example/v1", None) is None
    assert resolve_api_key("groq", "https://api.groq.com.evil.example/v1", None) is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000")
    assert resolve_api_key("anthropic", "http://127.0.0.1:4000/v1", None) == "ak"
    assert resolve_api_key("anthropic", "http://127.0.0.1:4001/v1", None) is None


def test_key_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "tok")
    assert resolve_api_key("anthropic", "https://api.anthropic.com/v1", None) == "tok"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "key")
    assert resolve_api_key("anthropic", "https://api.anthropic.com/v1", None) == "key"
    assert resolve_api_key("anthropic", "https://api.anthropic.com/v1", "explicit") == "explicit"
    # an unknown provider: its derived variable, else no key (the upstream decides)
    monkeypatch.delenv("MY_CLOUD_API_KEY", raising=False)
    assert env_names("my-cloud") == ("MY_CLOUD_API_KEY",)
    assert resolve_api_key("my-cloud", "https://cloud.example/v1", None) is None
    monkeypatch.setenv("MY_CLOUD_API_KEY", "mc")
    assert resolve_api_key("my-cloud", "https://cloud.example/v1", None) == "mc"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.5.0.1/v1", True),
        ("http://localhost:11434", True),
        ("http://[::1]:1234/v1", True),
        ("http://api.localhost/v1", True),
        ("http://0.0.0.0:11434/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://192.168.1.10:1234/v1", False),
        ("", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


# -- catalog models ---------------------------------------------------------------


def test_get_model_returns_independent_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = llm.get_model("openai", "gpt-4o-mini")
    assert (model.protocol, model.base_url) == ("openai-completions", "https://api.openai.com/v1")
    model.headers["x"] = "y"
    assert llm.get_model("openai", "gpt-4o-mini").headers == {}


def test_unknown_model_names_close_ones() -> None:
    with pytest.raises(llm.ConfigurationError, match=r"openai/gpt-4o-mni.*gpt-4o-mini.*llm\.Model"):
        llm.get_model("openai", "gpt-4o-mni")


def test_base_url_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8")
    assert llm.get_model("openai", "gpt-4o").base_url == "http://127.0.0.1:9/v1"
    assert llm.get_model("anthropic", "claude-sonnet-4-5").base_url == "http://127.0.0.1:8/v1"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8/v1")
    assert llm.get_model("anthropic", "claude-sonnet-4-5").base_url == "http://127.0.0.1:8/v1"
    assert {m.base_url for m in llm.list_models("openai")} == {"http://127.0.0.1:9/v1"}
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    assert (
        llm.get_model("anthropic", "claude-sonnet-4-5").base_url == "https://api.anthropic.com/v1"
    )


def test_calculate_cost_prices_each_bucket() -> None:
    model = llm.get_model("anthropic", "claude-sonnet-4-5")
    usage = llm.Usage(input=1_000_000, output=2_000_000, cache_read=1_000_000, cache_write=0)
    cost = llm.calculate_cost(model, usage)
    assert cost is usage.cost
    assert (cost.input, cost.output, cost.cache_read) == (3.0, 30.0, 0.3)
    assert cost.total == pytest.approx(33.3)
    assert usage.total == 4_000_000


def test_broken_entry_point_adapters_are_skipped_with_a_warning() -> None:
    from importlib.metadata import EntryPoint

    from pluma.llm import load_entry_point_adapters

    registry = llm.AdapterRegistry()
    entries = [
        EntryPoint("broken", "no_such_package.adapter:Adapter", "pluma.llm.adapters"),
        EntryPoint("mine", "tests.support.my_protocol:MyProtocolAdapter", "pluma.llm.adapters"),
    ]
    with pytest.warns(
        RuntimeWarning, match=r"skipped adapter entry point 'broken'.*no_such_package"
    ):
        load_entry_point_adapters(registry, entries)
    assert registry.protocols() == ["my-protocol"]
