"""Conversation search, the part both stores share: what text of a message is
searchable, how text and queries become words, and how a match's snippet is
cut. The engines (SQLite FTS5, PostgreSQL tsvector + GIN) only index and
rank; everything that decides *what* matches lives here, so both backends
find the same conversations.

What is searched: each conversation's title, and the plain text of its user
and assistant messages (text blocks; the first :data:`MAX_INDEXED`
characters of each). Not searched: reasoning (scratch work the user mostly
never reads; matching it would surface conversations for words nobody saw),
tool calls and tool results (machine output such as JSON or fetched pages,
which would flood the results), and images.

Semantics, identical on both backends:

- text and query are cut into words here (:func:`words`: runs of letters and
  digits, lower-cased); the engines index exactly those words, so a file name
  like ``src/main.py`` is found by ``main`` on both;
- the query is plain words: quotes, ``*``, ``-``, ``OR``, ``NEAR``,
  parentheses and ``:`` only separate words and never reach an engine as
  syntax, so no input is a syntax error;
- matching ignores case but not accents, and every word of two or more
  characters is a prefix (``pari`` finds "Paris"), so results appear while
  typing; a one-character word matches only itself (as a prefix it would
  match nearly everything, at the cost of reading the whole index);
- a message (or the title) matches when it holds every word; a conversation
  matches when its title or any of its messages does, in any branch (every
  version of an edited or regenerated message is searched);
- order: conversations whose title matches first, then those with a matching
  message, by that message's relevance (each engine's own score: FTS5
  ``bm25``, PostgreSQL ``ts_rank``), then the most recently updated.

Snippets are cut here too, from the stored text (the engines' snippet
functions tokenize differently, and would make the two backends highlight
differently). They come back as segments ``(text, matched)``, never as
markup: the page renders each with ``textContent`` and wraps matched ones in
``<mark>``, so stored text can never inject HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pluma import llm
from pluma.server.errors import InvalidRequest

if TYPE_CHECKING:
    from pluma.server.storage.conversations import ConversationSummary

ELLIPSIS = "…"
MAX_WORDS = 16
"""Words of a query used at most (more only narrow an already narrow search)."""
MAX_QUERY = 500
"""Characters of a query accepted; a longer one is refused with a 400."""
MAX_INDEXED = 100_000
"""Characters of one message indexed (PostgreSQL's tsvector is bounded at
1 MB; a message longer than this is still found by its first 100,000)."""
MAX_RESULTS = 200
"""Conversations one search returns at most."""
SNIPPET_WORDS = 18
"""Words a snippet shows around the first match."""
SNIPPET_BEFORE = 5
"""Words of context kept before the first match."""
TITLE_KEY = ""
"""The index row of the title (messages use their message id)."""

_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")


@dataclass(slots=True)
class SearchHit:
    """One conversation a search found: its summary, the snippet showing the
    match, and the id of the message that matched (None when only the title
    did; it may be in a branch that is not the one shown)."""

    summary: ConversationSummary
    snippet: list[tuple[str, bool]] = field(default_factory=list)
    message_id: str | None = None


def words(text: str) -> str:
    """``text`` as the engines index it: its words, lower-cased, one space
    apart (see the module docstring)."""
    return " ".join(_WORD.findall(text[:MAX_INDEXED].lower()))


def message_text(message: llm.Message) -> str:
    """The searchable text of a message ('' for what is not searched)."""
    if isinstance(message, llm.UserMessage):
        if isinstance(message.content, str):
            return message.content
        parts = [b.text for b in message.content if isinstance(b, llm.TextContent)]
    elif isinstance(message, llm.AssistantMessage):
        parts = [b.text for b in message.content if isinstance(b, llm.TextContent)]
    else:
        return ""
    return "\n".join(p for p in parts if p)


def query_words(query: str) -> list[str]:
    """The distinct words of a user's query, lower-cased; raises
    :class:`InvalidRequest` for a query too long to be a search."""
    if len(query) > MAX_QUERY:
        raise InvalidRequest(
            f"the search query is {len(query)} characters long; at most {MAX_QUERY} are "
            "accepted: search for a few words instead",
            param="q",
        )
    found: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word not in found:
            found.append(word)
    return found[:MAX_WORDS]


def _prefix(word: str) -> bool:
    return len(word) > 1


def fts5_query(query: list[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted (prefix) term, all
    required. Words hold only letters and digits, and quoting makes even
    ``AND``/``OR``/``NOT``/``NEAR`` plain terms."""
    return " ".join(f'"{w}"*' if _prefix(w) else f'"{w}"' for w in query)


def tsquery(query: list[str]) -> str:
    """A ``to_tsquery('simple', …)`` expression: every word a (prefix) term,
    all required. Words hold only letters and digits, so none of
    ``& | ! ( ) : * '`` can reach the parser."""
    return " & ".join(f"{w}:*" if _prefix(w) else w for w in query)


def _matches(token: str, query: list[str]) -> bool:
    token = token.lower()
    return any(token.startswith(w) if _prefix(w) else token == w for w in query)


def snippet(text: str, query: list[str]) -> list[tuple[str, bool]]:
    """The part of ``text`` around its first match as ``(text, matched)``
    segments on one line, every matching word marked, with an ellipsis where
    ``text`` goes on before or after.

    Hand-written rather than the engines' ``snippet()``/``ts_headline``: it
    must mark the same words on both backends, by the same word rules the
    index uses."""
    text = text[:MAX_INDEXED].strip()
    tokens: list[re.Match[str]] = []
    first = -1
    for token in _WORD.finditer(text):  # read only as far as the snippet needs
        tokens.append(token)
        if first < 0 and _matches(token.group(), query):
            first = len(tokens) - 1
        if first >= 0 and len(tokens) > max(0, first - SNIPPET_BEFORE) + SNIPPET_WORDS:
            break  # one past the window: says whether the text goes on
    if not tokens:
        return []
    start = max(0, first - SNIPPET_BEFORE)
    end = min(len(tokens), start + SNIPPET_WORDS)
    hits = [_matches(t.group(), query) for t in tokens[:end]]
    out: list[tuple[str, bool]] = []
    if start > 0:
        out.append((ELLIPSIS + " ", False))
    pos = tokens[start].start() if start > 0 else 0
    for i in range(start, end):
        token = tokens[i]
        if not hits[i]:
            continue
        if token.start() > pos:
            out.append((text[pos : token.start()], False))
        out.append((token.group(), True))
        pos = token.end()
    stop = tokens[end - 1].end() if end < len(tokens) else len(text)
    if stop > pos:
        out.append((text[pos:stop], False))
    if end < len(tokens):
        out.append((" " + ELLIPSIS, False))
    return [(_SPACE.sub(" ", part), matched) for part, matched in out]


SearchHits = list[SearchHit]
"""What a store's ``search`` returns (a name usable inside classes that
define their own ``list``)."""
