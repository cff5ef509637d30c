"""The usage summary's query parameters, shared by the user's and the admin's endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from llmportal.usage import service


@dataclass(slots=True)
class SummaryParams:
    period: str | None = None
    from_: str | None = None
    to: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    status: str | None = None
    org_id: str | None = None

    def query(self, user_id: str | None) -> service.UsageQuery:
        """Validated (400 naming the parameter); user_id None is the whole portal (or, with
        org_id, the org's keys)."""
        return service.parse_query(
            user_id,
            org_id=self.org_id,
            period=self.period,
            from_=self.from_,
            to=self.to,
            api_key_id=self.api_key_id,
            model=self.model,
            status=self.status,
        )


def summary_params(
    period: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    api_key_id: Annotated[str | None, Query(alias="apiKeyId")] = None,
    model: str | None = None,
    status: str | None = None,
    org_id: Annotated[str | None, Query(alias="orgId", max_length=32)] = None,
) -> SummaryParams:
    return SummaryParams(period, from_, to, api_key_id, model, status, org_id)


SummaryQuery = Annotated[SummaryParams, Depends(summary_params)]
