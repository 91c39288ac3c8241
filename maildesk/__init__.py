"""maildesk: an email-first support ticketing daemon."""

__version__ = "0.1.0"
