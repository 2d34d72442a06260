"""API key resolution: explicit option first, then the provider's environment
variables. Upstreams on this machine (loopback base URLs) need no key."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from pluma.llm.errors import MissingAPIKeyError

# provider id → environment variables checked, in order.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "perplexity": ("PERPLEXITY_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


def is_local_url(url: str) -> bool:
    """True for loopback hosts (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_key(provider: str) -> str | None:
    for name in ENV_KEYS.get(provider, ()):
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_api_key(provider: str, base_url: str, explicit: str | None) -> str | None:
    """The key to send, or None for a local upstream that needs none.

    Raises :class:`MissingAPIKeyError` naming the variables checked when a
    remote upstream has no key.
    """
    if explicit:
        return explicit
    found = env_key(provider)
    if found:
        return found
    if is_local_url(base_url):
        return None
    raise MissingAPIKeyError(provider, list(ENV_KEYS.get(provider, ())))
