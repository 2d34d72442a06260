"""The request-field table against the official SDKs' own request types and the docs.

A field added to ``openai`` or ``anthropic`` (their ``*CreateParams`` TypedDicts)
and missing from :mod:`pluma.server.chat.codecs.request_fields` fails here, and so
does a ``docs/sdk-clients.md`` table that no longer matches the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from anthropic.types import message_create_params
from openai.types.chat import completion_create_params

from pluma.server.chat.codecs.request_fields import (
    CHAT_COMPLETIONS,
    MESSAGES,
    UPSTREAMS,
    render_markdown,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk-clients.md"


def typed_dict_keys(cls: type) -> set[str]:
    """Every key a TypedDict declares, its bases' included."""
    keys: set[str] = set()
    for base in cls.__mro__:
        keys |= set(getattr(base, "__annotations__", {}))
    return keys


@pytest.mark.parametrize(
    ("params", "table"),
    [
        (completion_create_params.CompletionCreateParamsBase, CHAT_COMPLETIONS),
        (completion_create_params.CompletionCreateParamsStreaming, CHAT_COMPLETIONS),
        (message_create_params.MessageCreateParamsBase, MESSAGES),
        (message_create_params.MessageCreateParamsStreaming, MESSAGES),
    ],
    ids=["openai-base", "openai-streaming", "anthropic-base", "anthropic-streaming"],
)
def test_every_sdk_request_field_has_a_fate(params: type, table: tuple) -> None:
    keys = typed_dict_keys(params)
    assert len(keys) > 10, f"{params.__name__} read no fields: the SDK's layout changed"
    listed = {field.name for field in table}
    missing = sorted(keys - listed)
    assert not missing, (
        f"{params.__module__}.{params.__name__} has fields the request table does not list: "
        f"{missing}; add them to pluma/server/chat/codecs/request_fields.py (mapped, passed or "
        "refused) and regenerate the table in docs/sdk-clients.md"
    )


def test_table_names_are_unique_and_every_fate_is_stated() -> None:
    for table in (CHAT_COMPLETIONS, MESSAGES):
        names = [field.name for field in table]
        assert len(names) == len(set(names))
        for field in table:
            for upstream in UPSTREAMS:
                fate = field.fate(upstream)
                assert fate.kind in ("sent", "passed", "refused", "edge")
                if fate.kind == "sent":
                    assert fate.wire
                if fate.kind in ("refused", "edge"):
                    assert fate.note, f"{field.name}: a refusal must say why"


def test_docs_table_is_generated_from_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- request-fields:start[^>]*-->\n(.*?)<!-- request-fields:end -->", text, re.S
    )
    assert found, "docs/sdk-clients.md lost its request-fields markers"
    assert found.group(1) == render_markdown(), (
        "docs/sdk-clients.md's field table is stale: replace the text between the markers "
        "with pluma.server.chat.codecs.request_fields.render_markdown()"
    )
    for table in (CHAT_COMPLETIONS, MESSAGES):
        for field in table:
            assert f"| `{field.name}` |" in found.group(1)


def test_every_responses_request_field_has_a_fate_and_the_doc_is_current() -> None:
    from openai.types.responses import response_create_params

    from pluma.server.chat.codecs import responses_request

    keys = typed_dict_keys(response_create_params.ResponseCreateParamsBase)
    assert len(keys) > 10, "ResponseCreateParamsBase read no fields: the SDK's layout changed"
    missing = sorted(keys - set(responses_request.FIELDS))
    assert not missing, (
        f"the Responses request type has fields pluma/server/chat/codecs/responses_request.py "
        f"does not list: {missing}; give each a fate in FIELDS and regenerate docs/sdk-clients.md"
    )
    # What the table says passes through is neither decoded nor refused.
    for name, fate in responses_request.FIELDS.items():
        if fate == responses_request.PASSED:
            assert name not in responses_request.HANDLED and name not in responses_request.REFUSED
    text = DOC.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- responses-fields:start[^>]*-->\n(.*?)<!-- responses-fields:end -->", text, re.S
    )
    assert found, "docs/sdk-clients.md lost its responses-fields markers"
    assert found.group(1) == responses_request.render_markdown(), (
        "docs/sdk-clients.md's Responses table is stale: replace the text between the markers "
        "with pluma.server.chat.codecs.responses_request.render_markdown()"
    )
