"""Outgoing email: SMTP when configured, otherwise a local outbox folder."""

from llmportal.email.mailer import Email, Mailer, mailer_for

__all__ = ["Email", "Mailer", "mailer_for"]
