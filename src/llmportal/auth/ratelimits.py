"""Per-IP (and per-user) limits for the account endpoints, on the portal's shared limiter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import Response

from llmportal.deps import ClientIP, PortalDep
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.ratelimit import Decision


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window_s: int
    what: str  # for the message: "registration attempts"


REGISTER = Rule("register", 5, 15 * 60, "registration attempts")
RESEND_VERIFICATION = Rule("resend-verification", 3, 5 * 60, "verification emails requested")
FORGOT_PASSWORD = Rule("forgot-password", 3, 15 * 60, "password reset requests")
LOGIN = Rule("login", 20, 5 * 60, "login attempts")
# Per user: guesses at a password or 2FA code from inside a session.
SECOND_FACTOR = Rule("2fa", 10, 15 * 60, "two-factor attempts")
PASSWORD_CHANGE = Rule("password-change", 10, 15 * 60, "password change attempts")
# Per user: every invitation is an email to an address of the inviter's choosing.
ORG_INVITE = Rule("org-invite", 30, 60 * 60, "invitations sent")


def _wait(seconds: int) -> str:
    if seconds >= 90:
        minutes = -(-seconds // 60)
        return f"{minutes} minutes"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _limited(rule: Rule, decision: Decision) -> PortalError:
    return PortalError(
        429,
        f"Too many {rule.what}. Try again in {_wait(decision.retry_after)}.",
        headers=decision.headers(),
    )


async def enforce(portal: Portal, rule: Rule, subject: str, response: Response | None) -> None:
    """Count one hit; 429 with Retry-After past the limit, X-RateLimit-* headers either way."""
    limit = portal.settings.rate_limits.get(rule.name, rule.limit)
    decision = await portal.limiter.hit(f"{rule.name}:{subject}", limit, rule.window_s)
    if not decision.allowed:
        raise _limited(rule, decision)
    if response is not None:
        response.headers.update(decision.headers())


def per_ip(rule: Rule) -> Callable[..., AsyncIterator[None]]:
    """A route dependency; its X-RateLimit-* headers also go on the route's error answers."""

    async def dependency(
        portal: PortalDep, ip: ClientIP, response: Response
    ) -> AsyncIterator[None]:
        limit = portal.settings.rate_limits.get(rule.name, rule.limit)
        decision = await portal.limiter.hit(f"{rule.name}:ip:{ip}", limit, rule.window_s)
        if not decision.allowed:
            raise _limited(rule, decision)
        response.headers.update(decision.headers())
        try:
            yield
        except PortalError as exc:
            exc.headers = {**decision.headers(), **(exc.headers or {})}
            raise

    dependency.__name__ = f"rate_limit_{rule.name.replace('-', '_')}"
    return dependency
