"""A test chat plugin written against the seed contract, served with the kit.

What it streams depends on the model asked for, so one executable covers the
lifecycle tests:

| model          | behaviour                                                         |
|----------------|-------------------------------------------------------------------|
| ``echo``       | the last user text back, one word per chunk                       |
| ``count-N``    | N chunks ``w0 w1 …``                                              |
| ``crash-K``    | K chunks, then the process exits with code 3                      |
| ``hang-K``     | K chunks, then nothing, forever                                   |
| ``slow``       | a chunk every 50 ms until cancelled; the cancel is recorded       |
| ``fail``       | raises PluginError(code auth) after one chunk                     |
| ``quote-key``  | after one chunk, fails quoting the connection's key (as some      |
|                | upstreams do when they reject it)                                 |

A cancelled stream writes ``cancelled <monotonic-free wall time>`` to
``$PLUMA_TEST_MARKS/cancelled`` so a test can see the plugin noticed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

import httpx

from pluma import llm
from pluma.plugin import PluginError, serve_chat
from pluma.server.chat.providers.base import ChatRequest, ModelInfo
from pluma.server.profiles import ConnectionProfile


def chunk(text: str | None = None, finish: str | None = None) -> str:
    delta = {"content": text} if text is not None else {}
    body = {
        "id": "chatcmpl-echo",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "echo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return "data: " + json.dumps(body)


class EchoProvider:
    def __init__(self, profile: ConnectionProfile, http: httpx.AsyncClient) -> None:
        self.profile = profile

    @property
    def id(self) -> str:
        return "echo"

    @property
    def upstream(self) -> str:
        return self.profile.base_url

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo("echo", "Echo"), ModelInfo("count-200", "Count")]

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[str]:
        model = request.model
        if model.startswith("count-"):
            for i in range(int(model[6:])):
                yield chunk(f"w{i} ")
        elif model.startswith("crash-"):
            for i in range(int(model[6:])):
                yield chunk(f"w{i} ")
            await asyncio.sleep(0.2)  # let the chunks leave before dying
            os._exit(3)
        elif model.startswith("hang-"):
            for i in range(int(model[5:])):
                yield chunk(f"w{i} ")
            await asyncio.Event().wait()
        elif model == "slow":
            try:
                while True:
                    yield chunk("tick ")
                    await asyncio.sleep(0.05)
            except (asyncio.CancelledError, GeneratorExit):
                marks = os.environ.get("PLUMA_TEST_MARKS")
                if marks:
                    # a tiny write on the way out; blocking is fine in a test plugin
                    with open(os.path.join(marks, "cancelled"), "w") as f:  # noqa: ASYNC230
                        f.write(f"{time.time()}")
                raise
        elif model == "fail":
            yield chunk("partial ")
            raise PluginError("the upstream refused the key", code="auth", upstream_status=401)
        elif model == "quote-key":
            yield chunk("partial ")
            key = self.profile.api_key or ""
            raise PluginError(
                f"Incorrect API key provided: {key}", code="auth", upstream_status=401
            )
        else:
            text = ""
            for message in request.context.messages:
                if isinstance(message, llm.UserMessage):
                    text = message.content if isinstance(message.content, str) else ""
            for word in text.split():
                yield chunk(word + " ")
        yield chunk(finish="stop")
        yield "data: [DONE]"


if __name__ == "__main__":
    serve_chat(EchoProvider, id="echo", display_name="Echo", version="1.0.0", upstream="nothing")
