"""The neutral chat request crosses the plugin boundary whole: every field of
:class:`ChatRequest` survives host → protobuf → kit, so a control a client
sent is never dropped on its way to a plugin (the plugin decides what its
upstream honours, as a built-in adapter does). A field added to
``ChatRequest`` and not to the contract fails here."""

from __future__ import annotations

import dataclasses

from pluma import llm
from pluma.plugin import convert
from pluma.plugin.v1 import common_pb2
from pluma.server.chat.providers.base import ChatRequest

# Fields of ChatRequest that deliberately do not cross (and why).
NOT_SENT = {
    "extra_headers": "request headers of the client's protocol; a plugin gets extra_json",
    "extra_optional": "tuning only a same-protocol upstream uses; harmless to leave out",
}


def full_request() -> ChatRequest:
    return ChatRequest(
        model="m-1",
        context=llm.Context(
            system_prompt="Be brief.",
            messages=[llm.UserMessage("hi")],
            tools=[llm.Tool("look", "Look up", {"type": "object"})],
        ),
        temperature=0.5,
        max_tokens=99,
        reasoning="low",
        tool_choice={"name": "look"},
        extra={"logit_bias": {"50256": -100}},
        stop=["\n\n", "END"],
        top_p=0.9,
        top_k=40,
        seed=1234567890123,
        presence_penalty=0.25,
        frequency_penalty=-0.5,
        response_format=llm.ResponseFormat(
            type="json_schema", schema={"type": "object"}, name="answer", strict=True
        ),
        user="user-7",
        metadata={"team": "blue"},
        parallel_tool_calls=False,
        protocol="openai-completions",
    )


def test_every_field_of_the_neutral_request_crosses_the_boundary() -> None:
    sent = full_request()
    wire = convert.chat_request_pb(sent, common_pb2.Connection(id="c", name="c"))
    received = convert.chat_request_from_pb(wire.FromString(wire.SerializeToString()))
    for field in dataclasses.fields(ChatRequest):
        if field.name in NOT_SENT or field.name == "context":
            continue
        assert getattr(received, field.name) == getattr(sent, field.name), field.name
    assert received.context.system_prompt == "Be brief."
    assert [t.name for t in received.context.tools] == ["look"]


def test_unset_controls_stay_unset() -> None:
    bare = ChatRequest(model="m", context=llm.Context(messages=[llm.UserMessage("x")]))
    wire = convert.chat_request_pb(bare, common_pb2.Connection())
    received = convert.chat_request_from_pb(wire)
    for field in dataclasses.fields(ChatRequest):
        if field.name in NOT_SENT or field.name in ("context", "model"):
            continue
        assert getattr(received, field.name) == getattr(bare, field.name), field.name
