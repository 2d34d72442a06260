"""API key resolution: explicit option first, then the provider's environment
variables. Upstreams on this machine (loopback base URLs) need no key.

| provider                       | checked, in order                                  |
|--------------------------------|----------------------------------------------------|
| a provider in ``ENV_KEYS``     | its variables; none set and remote → an error      |
|                                | naming them                                        |
| a provider of the catalog      | its key variables from the models.dev dataset      |
| (:mod:`pluma.llm.catalog`)     | (``GROQ_API_KEY``, ``HF_TOKEN``, …); none set and   |
|                                | remote → the same error                            |
| any other provider id ``x-y``  | ``X_Y_API_KEY``; none set → no key (the adapter or |
|                                | upstream decides, e.g. a custom protocol or a      |
|                                | self-hosted server that needs none)                |
| loopback base URL              | the same variables, but never an error             |

A key taken from the environment is sent only to that provider's own
endpoint: its official hosts (``OFFICIAL_HOSTS``, or the hosts of its
endpoints in the catalog), or the URL the user gave
in ``<PROVIDER>_BASE_URL`` (``OPENAI_BASE_URL``, as the official SDKs read
it). A model that says ``provider="openai"`` but points at some other server
(a local Ollama, a third-party proxy) gets no key from ``OPENAI_API_KEY`` —
so a server or an application never hands the operator's OpenAI key to
whatever URL a connection names. Pass ``StreamOptions(api_key=...)`` there.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pluma.llm.errors import MissingAPIKeyError, ProviderError

if TYPE_CHECKING:
    from pluma.llm.catalog import ProviderInfo

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
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "moonshot": ("MOONSHOT_API_KEY",),
    "zai": ("ZAI_API_KEY",),
    "huggingface": ("HF_TOKEN", "HUGGINGFACE_API_KEY"),
    "nvidia": ("NVIDIA_API_KEY",),
}


# provider id → the hosts (and their subdomains) that are that provider's own.
OFFICIAL_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",),
    "anthropic": ("api.anthropic.com",),
    "openrouter": ("openrouter.ai",),
    "groq": ("api.groq.com",),
    "deepseek": ("api.deepseek.com",),
    "mistral": ("api.mistral.ai",),
    "together": ("api.together.xyz", "api.together.ai"),
    "fireworks": ("api.fireworks.ai",),
    "xai": ("api.x.ai",),
    "cerebras": ("api.cerebras.ai",),
    "perplexity": ("api.perplexity.ai",),
    "gemini": ("generativelanguage.googleapis.com",),
    "google": ("generativelanguage.googleapis.com",),
    "moonshot": ("api.moonshot.ai", "api.moonshot.cn"),
    "zai": ("api.z.ai", "open.bigmodel.cn"),
    "huggingface": ("router.huggingface.co", "api-inference.huggingface.co"),
    "nvidia": ("integrate.api.nvidia.com",),
}


@functools.lru_cache(maxsize=256)
def is_local_url(url: str) -> bool:
    """True for this machine: ``localhost``, 127.0.0.0/8, ``::1``, ``0.0.0.0``.

    Cached: asked on every call with one of a few base URLs."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # 0.0.0.0 / :: ("this host") reach the local machine when connected to.
    return address.is_loopback or address.is_unspecified


def _catalog_provider(provider: str) -> ProviderInfo | None:
    """The catalog's entry for ``provider`` when it names key variables
    (the dataset is loaded on the first such question, not at import)."""
    from pluma.llm.catalog import provider_info

    found = provider_info(provider)
    return found if found is not None and found.key_env else None


def _always_needs_key(provider: str) -> bool:
    if provider in ENV_KEYS:
        return True
    found = _catalog_provider(provider)
    # A catalog provider served on this machine (LM Studio) needs none.
    return found is not None and not is_local_url(found.base_url)


def env_names(provider: str) -> tuple[str, ...]:
    """The environment variables that may hold ``provider``'s key."""
    known = ENV_KEYS.get(provider)
    if known is not None:
        return known
    listed = _catalog_provider(provider)
    if listed is not None:
        return listed.key_env
    derived = re.sub(r"[^A-Z0-9]+", "_", provider.upper()).strip("_")
    return (f"{derived}_API_KEY",) if derived else ()


@functools.lru_cache(maxsize=256)
def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "", port)


def is_providers_endpoint(provider: str, base_url: str) -> bool:
    """Whether ``base_url`` belongs to ``provider``, so that the provider's
    key from the environment may be sent there (see the module docstring)."""
    if not base_url:
        return True  # the adapter's own default endpoint
    if provider in ENV_KEYS:
        hosts = OFFICIAL_HOSTS.get(provider, ())
    else:
        listed = _catalog_provider(provider)
        if listed is None or is_local_url(listed.base_url):
            # Derived variables (ME_API_KEY) are named by the user for this
            # provider id; a local server's variable is the user's too.
            return True
        hosts = listed.hosts
    host, port = _origin(base_url)
    for official in hosts:
        if host == official or host.endswith("." + official):
            return True
    override = os.environ.get(f"{provider.upper()}_BASE_URL", "").strip()
    return bool(override) and _origin(override) == (host, port)


def env_key(provider: str) -> str | None:
    for name in env_names(provider):
        value = os.environ.get(name)
        if value:
            return value
    return None


def resolve_api_key(provider: str, base_url: str, explicit: str | None) -> str | None:
    """The key to send, or None when none is needed (or known to be needed),
    or when the only key known is for another endpoint.

    Raises :class:`MissingAPIKeyError` naming the variables checked when a
    provider that always needs a key has none and its upstream is not local.
    The error names variables, never values.
    """
    if explicit:
        return explicit
    if not is_providers_endpoint(provider, base_url):
        return None  # the environment's key is not for this server
    found = env_key(provider)
    if found:
        return found
    if not is_local_url(base_url) and _always_needs_key(provider):
        raise MissingAPIKeyError(provider, list(env_names(provider)))
    return None


def explain_refused_without_key(error: ProviderError, provider: str, base_url: str) -> None:
    """Add to a 401/403 of a call that sent no credentials that none was sent,
    and why when the environment held one (the upstream only says it wants a
    key). Worded for library and server users alike: how to give a key
    differs between them.

    Meant for adapters: call it when the upstream refused a request that
    carried no key and no credential header.
    """
    if error.status not in (401, 403):
        return
    hint = "no API key was sent"
    if env_key(provider) and not is_providers_endpoint(provider, base_url):
        variable = next(name for name in env_names(provider) if os.environ.get(name))
        hint += (
            f" ({variable} is only sent to {provider}'s own endpoint or to "
            f"{provider.upper()}_BASE_URL, not to {base_url})"
        )
    error.message = f"{error.message} — {hint}"
    error.args = (error.message,)
