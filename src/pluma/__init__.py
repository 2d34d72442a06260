"""Pluma: a provider-neutral LLM streaming library (:mod:`pluma.llm`) and the
self-hosted chat server built on it (:mod:`pluma.server`)."""

__version__ = "0.1.0"
