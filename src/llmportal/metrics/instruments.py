"""Every Prometheus metric the portal exports, and the small hooks other modules call.

Works in one process (the default registry) and with `serve --workers N`, where
PROMETHEUS_MULTIPROC_DIR (set by `serve` before the workers start) makes prometheus_client keep
values in per-process files that GET /metrics sums. Label values are bounded: routes are route
templates, models are configured model ids (an unknown model name is "unknown").
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "llmportal_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "llmportal_http_request_duration_seconds",
    "Time from request to the end of the response (streams: to their last byte)",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)
COMPLETIONS = Counter(
    "llmportal_completions",
    "Completions, by the HTTP status they ended with (499: the client went away)",
    ["model", "provider", "deployment", "status"],
)
TOKENS = Counter(
    "llmportal_completion_tokens",
    "Tokens of completions",
    ["model", "provider", "deployment", "kind"],
)
COST = Counter("llmportal_completion_cost_usd", "Cost of completions in USD", ["model", "provider"])
COMPLETION_LATENCY = Histogram(
    "llmportal_completion_latency_seconds",
    "Upstream latency of completions: from the gateway's start to the completion's end",
    ["model", "provider", "deployment"],
    buckets=_LLM_BUCKETS,
)
FIRST_TOKEN = Histogram(
    "llmportal_time_to_first_token_seconds",
    "Time from the gateway's start of a streamed completion to the upstream's first event",
    ["model", "provider", "deployment"],
    buckets=_LLM_BUCKETS,
)
LIMIT_REJECTIONS = Counter(
    "llmportal_limit_rejections",
    "Requests refused by a limit (429), by kind: quota, key-rpm, login, register, ...",
    ["kind"],
)
INFLIGHT_STREAMS = Gauge(
    "llmportal_inflight_streams", "Streamed completions in progress", multiprocess_mode="livesum"
)
WRITER_QUEUE = Gauge(
    "llmportal_usage_writer_queue_depth",
    "Usage records waiting for the batched writer",
    multiprocess_mode="livesum",
)
WRITER_FLUSH = Histogram(
    "llmportal_usage_writer_flush_seconds",
    "Time to write one batch of usage records",
    buckets=_LATENCY_BUCKETS,
)
WRITER_DROPPED = Counter(
    "llmportal_usage_writer_dropped", "Usage records dropped (queue full or refused)"
)


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def observe_http(method: str, route: str | None, status: int, seconds: float) -> None:
    label = route or "unmatched"
    method = method if method in _METHODS else "OTHER"  # any string can arrive as a method
    HTTP_REQUESTS.labels(method, label, str(status)).inc()
    HTTP_LATENCY.labels(method, label).observe(seconds)


def observe_completion(record: Mapping[str, Any], deployment: str | None = None) -> None:
    """One finished completion: a usage record's column values, and the deployment that
    answered it (none when no model was resolved)."""
    provider = record.get("provider")
    known = provider is not None  # the model resolved to a configured one
    model = record["model"] if known else "unknown"
    provider = provider or "none"
    dep = deployment or "none"
    COMPLETIONS.labels(model, provider, dep, str(record["http_status"])).inc()
    if record.get("prompt_tokens"):
        TOKENS.labels(model, provider, dep, "prompt").inc(record["prompt_tokens"])
    if record.get("completion_tokens"):
        TOKENS.labels(model, provider, dep, "completion").inc(record["completion_tokens"])
    micros = (record.get("input_cost_micros") or 0) + (record.get("output_cost_micros") or 0)
    micros += record.get("image_cost_micros") or 0
    if micros:
        COST.labels(model, provider).inc(micros / 1_000_000)
    if known:
        latency = (record.get("latency_ms") or 0) / 1000
        COMPLETION_LATENCY.labels(model, provider, dep).observe(latency)
    if record["http_status"] == 429:
        LIMIT_REJECTIONS.labels("quota").inc()


def observe_first_token(model: Any, deployment: str | None, started: float) -> None:
    """`model` is the config.ModelConfig that answered; `started` a time.perf_counter()."""
    if model is not None:
        elapsed = time.perf_counter() - started
        FIRST_TOKEN.labels(model.id, model.provider, deployment or "none").observe(elapsed)


def limit_rejected(bucket: str) -> None:
    """A limiter said no; the bucket's first segment ("login:ip:1.2.3.4") names the kind."""
    LIMIT_REJECTIONS.labels(bucket.split(":", 1)[0][:40]).inc()
