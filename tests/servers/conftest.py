"""Server self-tests use the fixtures directly (the root conftest may load them too)."""

from tests.servers.fixtures import dovecot, smtp_sink  # noqa: F401
