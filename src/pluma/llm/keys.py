"""API key resolution: explicit option first, then the provider's environment
variables. Upstreams on this machine (loopback base URLs) need no key.

| provider                       | checked, in order                                  |
|--------------------------------|----------------------------------------------------|
| a provider in ``ENV_KEYS``     | its variables; none set and remote → an error      |
|                                | naming them                                        |
| any other provider id ``x-y``  | ``X_Y_API_KEY``; none set → no key (the adapter or |
|                                | upstream decides, e.g. a custom protocol or a      |
|                                | self-hosted server that needs none)                |
| loopback base URL              | the same variables, but never an error             |
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

from pluma.llm.errors import MissingAPIKeyError

# provider id → environment variables checked, in order. These providers
# always need a key at their public endpoints.
ENV_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "together": ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
    "fireworks": ("FIREWORKS_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "perplexity": ("PERPLEXITY_API_KEY", "PPLX_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "moonshot": ("MOONSHOT_API_KEY",),
    "zai": ("ZAI_API_KEY",),
    "huggingface": ("HF_TOKEN", "HUGGINGFACE_API_KEY"),
    "nvidia": ("NVIDIA_API_KEY",),
}


def is_local_url(url: str) -> bool:
    """True for this machine: ``localhost``, 127.0.0.0/8, ``::1``, ``0.0.0.0``."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # 0.0.0.0 / :: ("this host") reach the local machine when connected to.
    return address.is_loopback or address.is_unspecified


def env_names(provider: str) -> tuple[str, ...]:
    """The environment variables that may hold ``provider``'s key."""
    known = ENV_KEYS.get(provider)
    if known is not None:
        return known
    derived = re.sub(r"[^A-Z0-9]+", "_", provider.upper()).strip("_")
    return (f"{derived}_API_KEY",) if derived else ()


def env_key(provider: str) -> str | None:
    for name in env_names(provider):
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_api_key(provider: str, base_url: str, explicit: str | None) -> str | None:
    """The key to send, or None when none is needed (or known to be needed).

    Raises :class:`MissingAPIKeyError` naming the variables checked when a
    provider that always needs a key has none and its upstream is not local.
    The error names variables, never values.
    """
    if explicit:
        return explicit
    found = env_key(provider)
    if found:
        return found
    if provider in ENV_KEYS and not is_local_url(base_url):
        raise MissingAPIKeyError(provider, list(ENV_KEYS[provider]))
    return None
