"""Catalog entries → the ``GET /v1/models`` answer both SDKs read.

Each entry carries OpenAI's fields (``object``, ``created``, ``owned_by``) and,
side by side, Anthropic's (``type``, ``display_name``, ``created_at``), and the
list carries Anthropic's page fields, so ``OpenAI().models.list()`` and
``Anthropic().models.list()`` read the same answer; each ignores the other's
fields.
"""

from __future__ import annotations

from typing import Any

from pluma.server.chat.routing import CatalogEntry


def encode_model(entry: CatalogEntry) -> dict[str, Any]:
    model, profile = entry.model, entry.profile
    display = model.display if model.display and model.display != model.id else ""
    return {
        "id": entry.id,
        "object": "model",
        "created": 0,
        "owned_by": model.family or profile.name,
        "type": "model",
        "display_name": f"{display} ({profile.name})" if display else entry.id,
        "created_at": "1970-01-01T00:00:00Z",
    }


def encode_model_list(entries: list[CatalogEntry]) -> dict[str, Any]:
    """OpenAI's list, with the page fields of Anthropic's (one page, no more)."""
    models = [encode_model(entry) for entry in entries]
    return {
        "object": "list",
        "data": models,
        "has_more": False,
        "first_id": models[0]["id"] if models else None,
        "last_id": models[-1]["id"] if models else None,
    }
