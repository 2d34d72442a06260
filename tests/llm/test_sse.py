"""SSE framing per the WHATWG event-stream grammar, byte by byte."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.support.scripted_server import Reply, ScriptedServer

from pluma.llm.options import StreamOptions, Timeouts
from pluma.llm.transport.http import open_stream, read_sse
from pluma.llm.transport.sse import ServerSentEvent, SSEDecoder


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.flush())
    return out


def datas(events: list[ServerSentEvent]) -> list[str]:
    return [e.data for e in events]


# A realistic OpenAI-style stream: keep-alive comment, multibyte text, CRLF
# in one event, a multi-line data event, named events and the [DONE] marker.
REALISTIC = (
    b": keep-alive\n\n"
    b'data: {"choices":[{"delta":{"content":"H\xc3\xa9llo \xe2\x82\xac"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":" \xf0\x9f\x98\x80"}}]}\r\n\r\n'
    b"event: message_delta\nid: 7\nretry: 3000\n"
    b'data: {"a":\ndata: 1}\n\n'
    b":ping\r"
    b"\r"
    b"data: [DONE]\n\n"
)
REALISTIC_EVENTS = [
    ServerSentEvent('{"choices":[{"delta":{"content":"Héllo €"}}]}'),
    ServerSentEvent('{"choices":[{"delta":{"content":" 😀"}}]}'),
    ServerSentEvent('{"a":\n1}', "message_delta", "7", 3000),
    ServerSentEvent("[DONE]", "", "7", 3000),
]


def test_realistic_stream_in_one_read() -> None:
    assert decode(REALISTIC) == REALISTIC_EVENTS


@pytest.mark.parametrize("cut", range(1, len(REALISTIC)))
def test_realistic_stream_split_at_every_byte(cut: int) -> None:
    assert decode(REALISTIC[:cut], REALISTIC[cut:]) == REALISTIC_EVENTS


def test_realistic_stream_one_byte_per_read() -> None:
    assert decode(*(REALISTIC[i : i + 1] for i in range(len(REALISTIC)))) == REALISTIC_EVENTS


def test_line_endings_crlf_lone_cr_and_lf() -> None:
    assert datas(decode(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n")) == ["a", "b", "c"]


def test_crlf_split_across_reads_is_one_line_end() -> None:
    # "\r" ends one read and "\n" starts the next: one line end, not two
    # (two would dispatch an empty line between "data: a" and "data: b").
    events = decode(b"data: a\r", b"\ndata: b\r\n\r\n")
    assert datas(events) == ["a\nb"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert datas(decode(b"data: one\ndata:two\ndata:  three\ndata\n\n")) == ["one\ntwo\n three\n"]


def test_comments_and_blank_events_dispatch_nothing() -> None:
    assert decode(b": keep-alive\n\n:\n\n\n\nevent: ping\n\n") == []


def test_event_name_resets_after_dispatch_but_id_persists() -> None:
    events = decode(b"event: a\nid: 1\ndata: x\n\ndata: y\n\nid\ndata: z\n\n")
    assert [(e.event, e.id, e.data) for e in events] == [
        ("a", "1", "x"),
        ("", "1", "y"),
        ("", "", "z"),
    ]


def test_retry_only_accepts_digits_and_unknown_fields_are_ignored() -> None:
    events = decode(b"retry: soon\nfoo: bar\ndata: x\n\nretry: 250\ndata: y\n\n")
    assert [(e.retry, e.data) for e in events] == [(None, "x"), (250, "y")]


def test_last_event_without_trailing_blank_line() -> None:
    assert datas(decode(b"data: 1\n\ndata: [DONE]")) == ["1", "[DONE]"]
    assert datas(decode(b"data: 1\n\ndata: [DONE]\n")) == ["1", "[DONE]"]
    assert datas(decode(b"data: 1\n\ndata: [DONE]\r")) == ["1", "[DONE]"]


def test_multibyte_character_split_inside_every_byte() -> None:
    payload = "data: ∑😀é\n\n".encode()
    for cut in range(len(payload)):
        assert datas(decode(payload[:cut], payload[cut:])) == ["∑😀é"]


def test_huge_line_over_many_reads_is_kept_whole() -> None:
    # 20 000 reads of one line: carried pieces are joined once when the line
    # ends (the decoder keeps a list, not a growing bytes object).
    decoder = SSEDecoder()
    assert decoder.feed(b"data: ") == []
    for _ in range(20_000):
        assert decoder.feed(b"x" * 50) == []
    events = decoder.feed(b"\n\n")
    assert len(events) == 1 and events[0].data == "x" * 1_000_000


def test_huge_crlf_line_over_many_reads() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"event: big\r\ndata: ")
    for _ in range(5_000):
        decoder.feed(b"y" * 40)
    events = decoder.feed(b"\r\n\r\n")
    assert [(e.event, len(e.data)) for e in events] == [("big", 200_000)]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as s:
        yield s


async def test_read_sse_over_real_http_with_split_reads(server: ScriptedServer) -> None:
    # Every byte a separate chunk on the wire; the decoder sees real reads.
    body: list[bytes | float] = [REALISTIC[i : i + 7] for i in range(0, len(REALISTIC), 7)]
    server.reply(Reply(body=body))
    async with open_stream(server.url, headers={}, body={}, options=StreamOptions()) as response:
        events = [e async for e in read_sse(response, Timeouts())]
    assert events == REALISTIC_EVENTS
    assert json.loads(events[0].data)["choices"][0]["delta"]["content"] == "Héllo €"
