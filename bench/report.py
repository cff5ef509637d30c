"""The bench table: one row per target, mode and concurrency, then portal / LiteLLM ratios."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bench.loadgen import Point


@dataclass
class Row:
    target: str
    stream: bool
    concurrency: int
    count: int
    errors: int
    rps: float
    p50: float  # milliseconds from here on
    p95: float
    p99: float
    ttfb50: float
    cpu_ms: float  # target CPU per successful request
    api: str = "chat"  # chat (completions), responses or embeddings

    @classmethod
    def from_point(
        cls,
        target: str,
        stream: bool,
        concurrency: int,
        point: Point,
        cpu_s: float,
        api: str = "chat",
    ) -> Row:
        ms = 1000.0
        return cls(
            api=api,
            target=target,
            stream=stream,
            concurrency=concurrency,
            count=point.count,
            errors=point.errors,
            rps=point.rps,
            p50=point.pct(0.50) * ms,
            p95=point.pct(0.95) * ms,
            p99=point.pct(0.99) * ms,
            ttfb50=point.pct(0.50, ttfb=True) * ms,
            cpu_ms=cpu_s * ms / point.count if point.count else float("nan"),
        )

    @property
    def mode(self) -> str:
        kind = "stream" if self.stream else "non-stream"
        return kind if self.api == "chat" else f"{self.api} {kind}"

    def brief(self) -> str:
        return (
            f"{self.target:8} {self.mode:20} c={self.concurrency:<3} {self.rps:8.0f} req/s "
            f"p50 {self.p50:7.2f} ms  ttfb {self.ttfb50:7.2f} ms  cpu {self.cpu_ms:6.2f} ms/req "
            f"n={self.count} err={self.errors}"
        )


class HasRows(Protocol):
    name: str
    rss_idle: float
    rss_after: float
    rows: list[Row]


def _ratio(a: float, b: float) -> str:
    if not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}"


def render(targets: list[Any]) -> str:
    """Markdown: the measurements, memory, and portal / LiteLLM for each column."""
    ts: list[HasRows] = targets
    # The Responses API has no direct row (the fake upstream speaks Chat Completions, which
    # the portal translates it to): it is set against the direct chat rows.
    direct = {(r.stream, r.concurrency): r for t in ts if t.name == "direct" for r in t.rows
              if r.api == "chat"}  # fmt: skip
    direct_embeddings = {
        r.concurrency: r for t in ts if t.name == "direct" for r in t.rows if r.api == "embeddings"
    }
    out = [
        "| target | mode | clients | req/s | p50 ms | p95 ms | p99 ms | added p50 ms "
        "| TTFB p50 ms | added TTFB ms | CPU ms/req | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    added: dict[tuple[str, str, int], tuple[float, float]] = {}
    for t in ts:
        for r in t.rows:
            if r.api == "embeddings":
                base = direct_embeddings.get(r.concurrency)
            else:
                base = direct.get((r.stream, r.concurrency))
            add_p50 = r.p50 - base.p50 if base and t.name != "direct" else float("nan")
            add_ttfb = r.ttfb50 - base.ttfb50 if base and t.name != "direct" else float("nan")
            added[(t.name, r.mode, r.concurrency)] = (add_p50, add_ttfb)
            out.append(
                f"| {t.name} | {r.mode} | {r.concurrency} | {r.rps:.0f} | {r.p50:.2f} "
                f"| {r.p95:.2f} | {r.p99:.2f} | {_num(add_p50)} "
                f"| {_num(r.ttfb50) if r.stream else '-'} "
                f"| {_num(add_ttfb) if r.stream else '-'} | {r.cpu_ms:.2f} | {r.count} "
                f"| {r.errors} |"
            )
    out += ["", "| target | RSS idle MB | RSS after load MB |", "|---|---:|---:|"]
    out += [f"| {t.name} | {t.rss_idle:.0f} | {t.rss_after:.0f} |" for t in ts]

    by_name = {t.name: t for t in ts}
    portal, litellm = by_name.get("portal"), by_name.get("litellm")
    if portal and litellm:
        lrows = {(r.mode, r.concurrency): r for r in litellm.rows}
        out += [
            "",
            "portal / LiteLLM (req/s: higher is better; the others: lower is better)",
            "",
            "| mode | clients | req/s | p50 | p99 | added p50 | added TTFB | CPU ms/req |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in portal.rows:
            lr = lrows.get((r.mode, r.concurrency))
            if lr is None:
                continue
            pa = added[("portal", r.mode, r.concurrency)]
            la = added[("litellm", r.mode, r.concurrency)]
            out.append(
                f"| {r.mode} | {r.concurrency} | {_ratio(r.rps, lr.rps)} | {_ratio(r.p50, lr.p50)} "
                f"| {_ratio(r.p99, lr.p99)} | {_ratio(pa[0], la[0])} "
                f"| {_ratio(pa[1], la[1]) if r.stream else '-'} | {_ratio(r.cpu_ms, lr.cpu_ms)} |"
            )
        out.append(
            f"| RSS | | | | | | idle {_ratio(portal.rss_idle, litellm.rss_idle)} "
            f"| after {_ratio(portal.rss_after, litellm.rss_after)} |"
        )
    if portal:
        out += _responses_vs_chat(portal.rows)
    return "\n".join(out)


def _responses_vs_chat(rows: list[Row]) -> list[str]:
    """The portal's CPU per Responses request over its CPU per chat request (same mode and
    clients): the cost of the translation (goal: at most 1.3 for streams)."""
    chat = {(r.stream, r.concurrency): r for r in rows if r.api == "chat"}
    lines = []
    for r in rows:
        base = chat.get((r.stream, r.concurrency))
        if r.api == "responses" and base is not None:
            lines.append(f"| {r.mode} | {r.concurrency} | {_ratio(r.cpu_ms, base.cpu_ms)} |")
    if not lines:
        return []
    head = ["", "portal: CPU ms/req of the Responses API / of chat completions", ""]
    return [*head, "| mode | clients | CPU ratio |", "|---|---:|---:|", *lines]


def _num(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"
