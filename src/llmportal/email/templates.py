"""The account emails, as plain text and HTML."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from llmportal.email.mailer import Email


def _link(public_url: str, path: str, token: str) -> str:
    return f"{public_url}/{path}?token={quote(token, safe='')}"


def _html(greeting: str, lines: list[str], link: str, button: str, footer: str) -> str:
    paragraphs = "\n".join(f"<p>{escape(line)}</p>" for line in lines)
    href = escape(link, quote=True)
    button_style = (
        "display:inline-block;padding:10px 16px;background:#2563eb;color:#fff;"
        "text-decoration:none;border-radius:6px"
    )
    small = "font-size:13px;color:#555"
    return "\n".join(
        [
            "<!doctype html>",
            '<html><body style="font-family:sans-serif;line-height:1.5">',
            f"<p>{escape(greeting)}</p>",
            paragraphs,
            f'<p><a href="{href}" style="{button_style}">{escape(button)}</a></p>',
            f'<p style="{small}">Or open this link: {escape(link)}</p>',
            f'<p style="{small}">{escape(footer)}</p>',
            "</body></html>",
            "",
        ]
    )


def _greeting(name: str | None) -> str:
    return f"Hello {name}," if name else "Hello,"


def verification_email(public_url: str, to: str, name: str | None, token: str) -> Email:
    link = _link(public_url, "verify-email", token)
    lines = ["Please confirm your email address for LLM Portal."]
    footer = (
        "The link works once and expires in 24 hours. If you did not sign up, ignore this email."
    )
    text = f"{_greeting(name)}\n\n{lines[0]}\n\n{link}\n\n{footer}\n"
    return Email(
        to=to,
        subject="Verify your email address",
        text=text,
        html=_html(_greeting(name), lines, link, "Verify email", footer),
    )


def reset_email(public_url: str, to: str, name: str | None, token: str) -> Email:
    link = _link(public_url, "reset-password", token)
    lines = ["Someone asked to reset the password of your LLM Portal account."]
    footer = (
        "The link works once and expires in 1 hour. If you did not ask for this, ignore this "
        "email: your password stays as it is."
    )
    text = f"{_greeting(name)}\n\n{lines[0]}\n\n{link}\n\n{footer}\n"
    return Email(
        to=to,
        subject="Reset your password",
        text=text,
        html=_html(_greeting(name), lines, link, "Choose a new password", footer),
    )


def email_changed_notice(public_url: str, to: str, name: str | None, new_email: str) -> Email:
    message = f"The email address of your LLM Portal account was changed to {new_email}."
    footer = "If you did not do this, reset your password at once and contact the administrator."
    link = f"{public_url}/"
    text = f"{_greeting(name)}\n\n{message}\n\n{footer}\n{link}\n"
    return Email(
        to=to,
        subject="Your email address was changed",
        text=text,
        html=_html(_greeting(name), [message], link, "Open LLM Portal", footer),
    )


def org_invitation_email(
    public_url: str, to: str, org_name: str, inviter: str | None, role: str, token: str
) -> Email:
    link = _link(public_url, "accept-invitation", token)
    who = inviter or "An administrator"
    lines = [
        f"{who} invited you to join the organization {org_name} on LLM Portal as {role.lower()}.",
        f"Sign in (or create an account) with this address, {to}, and open the link to accept.",
    ]
    footer = (
        "The link works once and expires in 7 days. If you do not know this organization, "
        "ignore this email."
    )
    text = f"Hello,\n\n{lines[0]}\n{lines[1]}\n\n{link}\n\n{footer}\n"
    return Email(
        to=to,
        subject=f"Join {org_name} on LLM Portal",
        text=text,
        html=_html("Hello,", lines, link, "Accept the invitation", footer),
    )


def budget_alert_email(
    public_url: str,
    to: str,
    name: str | None,
    *,
    owner: str,
    threshold: int,
    spent: str,
    budget: str,
    resets: str | None,
) -> Email:
    """`owner` "API key 'Production'" or "your account"; `budget` "$5.00 daily budget"."""
    subject_owner = owner[0].upper() + owner[1:]
    until = f"until {resets}" if resets else "until the budget is raised"
    if threshold >= 100:
        subject = f"{subject_owner} has used up its {budget}"
        lines = [
            f"{subject_owner} has used up its {budget}: {spent} spent.",
            f"Requests that would cost more than what is left are refused {until}.",
        ]
    else:
        subject = f"{subject_owner} has spent {threshold}% of its {budget}"
        lines = [
            f"{subject_owner} has spent {spent} of its {budget} ({threshold}%).",
            f"Once it is used up, requests are refused {until}.",
        ]
    link = f"{public_url}/usage"
    footer = "You get this alert once per budget period at 80% and at 100%."
    text = f"{_greeting(name)}\n\n" + "\n".join(lines) + f"\n\n{link}\n\n{footer}\n"
    return Email(
        to=to,
        subject=subject,
        text=text,
        html=_html(_greeting(name), lines, link, "See your usage", footer),
    )
