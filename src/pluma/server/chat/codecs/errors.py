"""The error a decoder raises for a body the client got wrong.

``field`` is the JSON path of the offending member (``messages[2].content``),
so the 400 the client receives names exactly what to fix.
"""

from __future__ import annotations

from pluma.server.errors import InvalidRequest


class RequestError(InvalidRequest):
    """A client request body that cannot be served as sent (a 400)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem, param=field or None)
