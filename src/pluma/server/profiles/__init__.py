"""Connection profiles: the registry every kind of profile is stored in, chat
profiles and their manager, upstream checks and first-run discovery of local
backends.

:class:`ConnectionProfile` and :class:`ProfileTimeouts` are re-exported here:
provider plugins import them from ``pluma.server.profiles``.
"""

from pluma.server.profiles.chat import ConnectionProfile, ProfileTimeouts

__all__ = ["ConnectionProfile", "ProfileTimeouts"]
