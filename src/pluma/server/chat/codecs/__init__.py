"""Edge codecs: what clients send, decoded into the neutral vocabulary, and the
neutral events encoded back into each client protocol's wire format.

One module per protocol and direction:

| module                  | direction                                             |
|-------------------------|-------------------------------------------------------|
| ``openai_request``      | Chat Completions request body → :class:`ChatRequest`  |
| ``openai_stream``       | events → ``data: {chunk}`` lines                      |
| ``openai_response``     | final message → ``chat.completion`` JSON              |
| ``anthropic_request``   | Messages request body → :class:`ChatRequest`          |
| ``anthropic_stream``    | events → named Messages SSE events                    |
| ``anthropic_response``  | final message → ``message`` JSON                      |

No codec knows another vendor's format: everything passes through
:mod:`pluma.llm` events and messages.
"""
