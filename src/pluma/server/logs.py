"""Logging for ``pluma serve`` and each of its worker processes: one line per
record on stderr, every known secret masked (see
:class:`~pluma.server.storage.secrets.RedactingFilter`)."""

from __future__ import annotations

import logging
import sys

from pluma.server.config import Settings, SettingsError


def configure_logging(settings: Settings) -> None:
    """Send the root logger to stderr at ``settings.log_level`` with secrets
    masked; raises :class:`SettingsError` for an unknown level."""
    from pluma.server.storage.secrets import redactor

    level = getattr(logging, settings.log_level.upper(), None)
    if not isinstance(level, int):
        raise SettingsError(
            f"log level {settings.log_level!r} is unknown: use debug, info, warning or error"
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    redactor.add(settings.api_key)
    redactor.add(settings.token)
    redactor.add(settings.image_key)
    redactor.add(settings.secret_key)
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
