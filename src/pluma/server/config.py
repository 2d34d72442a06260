"""Server settings: one immutable object built from defaults, environment
variables and command-line flags (flags win over the environment, the
environment over defaults).

| setting          | flag               | environment              | default                     |
|------------------|--------------------|--------------------------|-----------------------------|
| host             | ``--host``         | ``PLUMA_HOST``           | ``127.0.0.1``               |
| port             | ``--port``         | ``PLUMA_PORT``           | ``8740``                    |
| data_dir         | ``--data-dir``     | ``PLUMA_DATA_DIR``       | platformdirs user data dir  |
| token            | ``--token``        | ``PLUMA_TOKEN``          | none (required off-loopback)|
| base_url         | ``--base-url``     | ``PLUMA_BASE_URL``       | none (boot fallback profile)|
| api_key          | ``--api-key``      | ``PLUMA_API_KEY``        | none                        |
| fallback_compat  | ``--compat``       | ``PLUMA_COMPAT``         | ``openai``                  |
| allowed_hosts    | ``--allowed-host`` | ``PLUMA_ALLOWED_HOSTS``  | loopback names (+ bind host)|
| allowed_origins  | ``--allowed-origin``| ``PLUMA_ALLOWED_ORIGINS``| same origin only           |
| max_body_bytes   | ``--max-body``     | ``PLUMA_MAX_BODY``       | 32 MiB                      |
| max_header_bytes |                    | ``PLUMA_MAX_HEADER_SIZE``| 64 KiB (request line + headers) |
| header_timeout   |                    | ``PLUMA_HEADER_TIMEOUT`` | 5 s to send a request head  |
| max_connections  | ``--max-connections``| ``PLUMA_MAX_CONNECTIONS``| half the file-descriptor limit |
| max_messages     |                    | ``PLUMA_MAX_MESSAGES``   | 10,000 messages per chat request |
| max_json_nodes   |                    | ``PLUMA_MAX_JSON_NODES`` | 200,000 ``{``/``[`` per request body |
| secrets          | ``--secrets``      | ``PLUMA_SECRETS``        | ``auto``                    |
| log_level        | ``--log-level``    | ``PLUMA_LOG_LEVEL``      | ``info``                    |
| discovery        | ``--no-discovery`` | ``PLUMA_DISCOVERY``      | on                          |
| image_url        | ``--image-url``    | ``PLUMA_IMAGE_URL``      | none (image boot fallback)  |
| image_kind       | ``--image-kind``   | ``PLUMA_IMAGE_KIND``     | ``a1111``                   |
| image_key        |                    | ``PLUMA_IMAGE_KEY``      | none (bearer token)         |
| database_url     | ``--database-url`` | ``PLUMA_DATABASE_URL``   | none (files in the data dir)|
| secret_key       |                    | ``PLUMA_SECRET_KEY``     | none (required with a DB)   |
| workers          | ``--workers``      | ``PLUMA_WORKERS``        | 1                           |

List-valued environment variables are comma-separated.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import platformdirs

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8740
DEFAULT_MAX_BODY = 32 * 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HEADER_TIMEOUT = 5.0
DEFAULT_MAX_MESSAGES = 10_000
DEFAULT_MAX_JSON_NODES = 200_000

SecretsMode = Literal["auto", "keyring", "file", "memory"]
SECRETS_MODES: tuple[str, ...] = ("auto", "keyring", "file", "memory")

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "::1", "[::1]")

# Local backends probed on first run: (label, base URL of the OpenAI-compatible API).
DEFAULT_DISCOVERY_TARGETS: tuple[tuple[str, str], ...] = (
    ("Ollama", "http://127.0.0.1:11434/v1"),
    ("LM Studio", "http://127.0.0.1:1234/v1"),
    ("llama.cpp", "http://127.0.0.1:8080/v1"),
    ("vLLM", "http://127.0.0.1:8000/v1"),
)


def default_data_dir() -> Path:
    """The platform's per-user data directory for Pluma."""
    return Path(platformdirs.user_data_dir("pluma", appauthor=False))


def is_loopback_host(host: str) -> bool:
    """True when binding ``host`` only accepts connections from this machine."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class SettingsError(ValueError):
    """A setting has an unusable value; the message names the flag and variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    token: str | None = field(default=None, repr=False)
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    fallback_compat: str = "openai"
    fallback_model: str = ""
    allowed_hosts: tuple[str, ...] = ()
    """Extra Host header values accepted besides loopback names and the bind
    host; ``*`` accepts any (only sensible behind a trusted proxy)."""
    allowed_origins: tuple[str, ...] = ()
    """Extra origins (``scheme://host[:port]``) allowed to make state-changing
    requests besides the server's own origin."""
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    """Request line plus headers; more is answered 431 (pluma.server.http.protocol)."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds a connection has to send a complete request head before it is closed."""
    max_connections: int = 0
    """Open connections at most; 0 means half the file-descriptor limit."""
    max_messages: int = DEFAULT_MAX_MESSAGES
    """Messages in one chat request at most (413 beyond)."""
    max_json_nodes: int = DEFAULT_MAX_JSON_NODES
    """``{`` and ``[`` characters in one request body at most (413 beyond): an
    upper bound on the JSON objects and arrays it decodes into, which is what
    its memory grows with (see pluma.server.http.security)."""
    secrets: SecretsMode = "auto"
    log_level: str = "info"
    access_log: bool = False
    discovery: bool = True
    discovery_targets: tuple[tuple[str, str], ...] = DEFAULT_DISCOVERY_TARGETS
    image_url: str | None = None
    """Boot fallback image backend (used while no image connection exists)."""
    image_kind: str = "a1111"
    image_key: str | None = field(default=None, repr=False)
    database_url: str | None = field(default=None, repr=False)
    """A ``postgresql://`` URL: keep everything in that database instead of
    the data dir (see docs/deploy.md). Not shown by ``repr``: it may hold a
    password."""
    secret_key: str | None = field(default=None, repr=False)
    """Encrypts API keys in the database (``PLUMA_SECRET_KEY``; no flag, so it
    never shows in ``ps``)."""
    workers: int = 1
    """Server processes sharing the port (``--workers`` / ``PLUMA_WORKERS``)."""

    @property
    def connections_path(self) -> Path:
        return self.data_dir / "connections.json"

    @property
    def requires_token(self) -> bool:
        return not is_loopback_host(self.host)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """These settings as ``PLUMA_*`` variables, so that :meth:`from_env` in
        another process (a ``--workers`` process) builds the same settings."""
        env = {
            "PLUMA_HOST": self.host,
            "PLUMA_PORT": str(self.port),
            "PLUMA_DATA_DIR": str(self.data_dir),
            "PLUMA_COMPAT": self.fallback_compat,
            "PLUMA_MODEL": self.fallback_model,
            "PLUMA_ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            "PLUMA_ALLOWED_ORIGINS": ",".join(self.allowed_origins),
            "PLUMA_MAX_BODY": str(self.max_body_bytes),
            "PLUMA_SECRETS": self.secrets,
            "PLUMA_LOG_LEVEL": self.log_level,
            "PLUMA_ACCESS_LOG": "1" if self.access_log else "0",
            "PLUMA_DISCOVERY": "1" if self.discovery else "0",
            "PLUMA_DISCOVERY_TARGETS": ",".join(f"{k}={v}" for k, v in self.discovery_targets),
            "PLUMA_IMAGE_KIND": self.image_kind,
            "PLUMA_WORKERS": str(self.workers),
            "PLUMA_MAX_HEADER_SIZE": str(self.max_header_bytes),
            "PLUMA_HEADER_TIMEOUT": repr(self.header_timeout),
            "PLUMA_MAX_CONNECTIONS": str(self.max_connections),
            "PLUMA_MAX_MESSAGES": str(self.max_messages),
            "PLUMA_MAX_JSON_NODES": str(self.max_json_nodes),
        }
        optional = {
            "PLUMA_TOKEN": self.token,
            "PLUMA_BASE_URL": self.base_url,
            "PLUMA_API_KEY": self.api_key,
            "PLUMA_IMAGE_URL": self.image_url,
            "PLUMA_IMAGE_KEY": self.image_key,
            "PLUMA_DATABASE_URL": self.database_url,
            "PLUMA_SECRET_KEY": self.secret_key,
        }
        env.update({name: value for name, value in optional.items() if value is not None})
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``PLUMA_*`` variables, then ``overrides`` (flags; a
        value of None means "not given" and keeps the environment's value)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}

        def text(var: str) -> str | None:
            value = env.get(var, "").strip()
            return value or None

        if (v := text("PLUMA_HOST")) is not None:
            values["host"] = v
        if (v := text("PLUMA_PORT")) is not None:
            values["port"] = _int("PLUMA_PORT", v)
        if (v := text("PLUMA_DATA_DIR")) is not None:
            values["data_dir"] = Path(v).expanduser()
        if (v := text("PLUMA_TOKEN")) is not None:
            values["token"] = v
        if (v := text("PLUMA_BASE_URL")) is not None:
            values["base_url"] = v
        if (v := text("PLUMA_API_KEY")) is not None:
            values["api_key"] = v
        if (v := text("PLUMA_COMPAT")) is not None:
            values["fallback_compat"] = v
        if (v := text("PLUMA_MODEL")) is not None:
            values["fallback_model"] = v
        if (v := text("PLUMA_ALLOWED_HOSTS")) is not None:
            values["allowed_hosts"] = _split(v)
        if (v := text("PLUMA_ALLOWED_ORIGINS")) is not None:
            values["allowed_origins"] = _split(v)
        if (v := text("PLUMA_MAX_BODY")) is not None:
            values["max_body_bytes"] = parse_size(v, "PLUMA_MAX_BODY")
        if (v := text("PLUMA_MAX_HEADER_SIZE")) is not None:
            values["max_header_bytes"] = parse_size(v, "PLUMA_MAX_HEADER_SIZE")
        if (v := text("PLUMA_HEADER_TIMEOUT")) is not None:
            values["header_timeout"] = _float("PLUMA_HEADER_TIMEOUT", v)
        if (v := text("PLUMA_MAX_CONNECTIONS")) is not None:
            values["max_connections"] = _int("PLUMA_MAX_CONNECTIONS", v)
        if (v := text("PLUMA_MAX_MESSAGES")) is not None:
            values["max_messages"] = _int("PLUMA_MAX_MESSAGES", v)
        if (v := text("PLUMA_MAX_JSON_NODES")) is not None:
            values["max_json_nodes"] = _int("PLUMA_MAX_JSON_NODES", v)
        if (v := text("PLUMA_SECRETS")) is not None:
            values["secrets"] = v
        if (v := text("PLUMA_LOG_LEVEL")) is not None:
            values["log_level"] = v
        if (v := text("PLUMA_DISCOVERY")) is not None:
            values["discovery"] = v.lower() not in ("0", "false", "no", "off")
        if (v := text("PLUMA_DISCOVERY_TARGETS")) is not None:
            values["discovery_targets"] = _targets(v)
        if (v := text("PLUMA_IMAGE_URL")) is not None:
            values["image_url"] = v
        if (v := text("PLUMA_IMAGE_KIND")) is not None:
            values["image_kind"] = v
        if (v := text("PLUMA_IMAGE_KEY")) is not None:
            values["image_key"] = v
        if (v := text("PLUMA_DATABASE_URL")) is not None:
            values["database_url"] = v
        if (v := text("PLUMA_SECRET_KEY")) is not None:
            values["secret_key"] = v
        if (v := text("PLUMA_ACCESS_LOG")) is not None:
            values["access_log"] = v.lower() in ("1", "true", "yes", "on")
        if (v := text("PLUMA_WORKERS")) is not None:
            values["workers"] = _int("PLUMA_WORKERS", v)
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError(
                f"port {self.port} is out of range (0-65535): fix --port / PLUMA_PORT"
            )
        if self.secrets not in SECRETS_MODES:
            raise SettingsError(
                f"secrets backend {self.secrets!r} is unknown: use one of "
                f"{', '.join(SECRETS_MODES)} (--secrets / PLUMA_SECRETS)"
            )
        if self.max_body_bytes <= 0:
            raise SettingsError("max body size must be positive (--max-body / PLUMA_MAX_BODY)")
        if self.max_header_bytes < 1024:
            raise SettingsError("the header size limit must be at least 1k (PLUMA_MAX_HEADER_SIZE)")
        if not self.header_timeout > 0:
            raise SettingsError("the header timeout must be positive (PLUMA_HEADER_TIMEOUT)")
        if self.max_connections < 0:
            raise SettingsError(
                "the connection limit must be positive, or 0 for the default "
                "(--max-connections / PLUMA_MAX_CONNECTIONS)"
            )
        if self.max_messages <= 0:
            raise SettingsError("the message limit must be positive (PLUMA_MAX_MESSAGES)")
        if self.max_json_nodes <= 0:
            raise SettingsError("the JSON node limit must be positive (PLUMA_MAX_JSON_NODES)")
        if self.token is not None and len(self.token) < 8:
            raise SettingsError(
                "the access token is too short: use at least 8 characters (--token / PLUMA_TOKEN)"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise SettingsError(
                # The value is not echoed: it may carry user:password@.
                "the base URL (--base-url / PLUMA_BASE_URL) must start with http:// or "
                "https://, e.g. http://127.0.0.1:11434/v1"
            )
        if self.workers < 1:
            raise SettingsError(
                f"workers must be 1 or more, got {self.workers} (--workers / PLUMA_WORKERS)"
            )
        if self.database_url is not None and not self.database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise SettingsError(
                # The value is not echoed: it may carry a password.
                "the database URL (--database-url / PLUMA_DATABASE_URL) must be a "
                "postgresql:// URL, e.g. postgresql://pluma@db.internal/pluma"
            )
        if self.image_url is not None and not self.image_url.startswith(("http://", "https://")):
            raise SettingsError(
                "the image URL (--image-url / PLUMA_IMAGE_URL) must start with http:// or "
                "https://, e.g. http://127.0.0.1:7860"
            )


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(var: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{var}={value!r} is not a whole number") from None


def _float(var: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{var}={value!r} is not a number") from None


def _targets(value: str) -> tuple[tuple[str, str], ...]:
    """``label=url,label=url`` → pairs (a bare URL is its own label)."""
    pairs = []
    for part in _split(value):
        label, sep, url = part.partition("=")
        pairs.append((label, url) if sep else (part, part))
    return tuple(pairs)


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
}


def parse_size(value: str, what: str = "size") -> int:
    """``"32MiB"``, ``"512k"``, ``"1048576"`` → bytes."""
    text = value.strip().lower().replace(" ", "")
    number = text.rstrip("kmgib")
    unit = text[len(number) :]
    try:
        size = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        raise SettingsError(
            f"{what}={value!r} is not a size: write bytes or a number with k, M or G (e.g. 32M)"
        ) from None
    return size
