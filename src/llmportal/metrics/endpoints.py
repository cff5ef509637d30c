"""GET /metrics: the Prometheus text format, for a bearer token or (without one) loopback only."""

from __future__ import annotations

import hmac
import ipaddress
import os

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from llmportal.deps import ClientIP, PortalDep
from llmportal.errors import PortalError

router = APIRouter(tags=["metrics"])


def _is_loopback(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _check_access(request: Request, token: str | None, ip: str) -> None:
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise PortalError(
                401, "Metrics require a valid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
    elif not _is_loopback(ip):
        raise PortalError(403, "Metrics are served to loopback clients only (set METRICS_TOKEN)")


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, portal: PortalDep, ip: ClientIP) -> Response:
    _check_access(request, portal.settings.metrics_token, ip)
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
