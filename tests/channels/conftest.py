"""Channel tests use the real servers from tests.servers."""

from tests.servers.fixtures import dovecot, smtp_sink  # noqa: F401
