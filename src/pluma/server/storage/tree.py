"""A conversation's messages as a tree, and the visible path through it.

Editing an earlier message or regenerating an answer adds a *sibling* (a
new child of the same parent) instead of replacing anything, so every
version stays. The conversation remembers its current leaf; the visible
path is the chain from the root down to that leaf, and it is the only
history the chat relay sends upstream.

Both stores (SQLite and PostgreSQL) load a conversation's nodes and hand
them to the functions here, so the branch rules exist once (the last one as
the one SQL statement both stores run, ``SELECT_NEWEST_LEAF_BELOW`` in
``conversations.py``, so that it reads and writes at once):

| question                             | answer                                           |
|--------------------------------------|--------------------------------------------------|
| visible path                         | parent links from the current leaf up to a root  |
| siblings of a node                   | the nodes with the same parent, oldest first     |
| the leaf shown after picking a node  | the newest leaf in that node's subtree           |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pluma import llm


@dataclass(slots=True)
class MessageNode:
    """One stored message with its place in the tree."""

    id: str
    parent_id: str | None
    message: llm.Message
    created_at: int


@dataclass(slots=True)
class PathEntry:
    """A message on the visible path with what the page needs to switch."""

    node: MessageNode
    sibling_ids: list[str]

    @property
    def sibling_index(self) -> int:
        return self.sibling_ids.index(self.node.id)


def children_of(nodes: Iterable[MessageNode]) -> dict[str | None, list[MessageNode]]:
    """Children by parent id (None: the roots), each list oldest first
    (``nodes`` come in creation order)."""
    children: dict[str | None, list[MessageNode]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)
    return children


def path_to(nodes: Sequence[MessageNode], leaf: str | None) -> list[MessageNode]:
    """The chain from a root down to ``leaf`` (empty when there is none)."""
    by_id = {node.id: node for node in nodes}
    chain: list[MessageNode] = []
    current = by_id.get(leaf) if leaf else None
    while current is not None and len(chain) <= len(by_id):  # a cycle cannot loop forever
        chain.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    chain.reverse()
    return chain


def visible_path(nodes: Sequence[MessageNode], leaf: str | None) -> list[PathEntry]:
    """The path to ``leaf`` with each entry's siblings."""
    children = children_of(nodes)
    return [
        PathEntry(node, [s.id for s in children.get(node.parent_id, [])])
        for node in path_to(nodes, leaf)
    ]
