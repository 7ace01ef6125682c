"""What a supplier can look up: its rejected observations and its cameras as the platform placed them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from api.ingest.deps import Authenticated, Services
from api.ingest.models import CameraState, RejectionReport
from api.ingest.openapi import ERROR_RESPONSES
from api.ingest.rejections import rejection_counts

FROM_DAY, TO_DAY = "first day (UTC), default 30 days before `to`", "last day (UTC), default today"
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {k: v for k, v in ERROR_RESPONSES.items() if k in (401, 403)}
router = APIRouter()


def iso_day(value: object) -> object:
    """A query value as given when it reads YYYY-MM-DD; ValueError (422) otherwise, where pydantic alone
    would take `to=0` for the Unix epoch."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a day is YYYY-MM-DD")
    return value


Day = Annotated[date | None, BeforeValidator(iso_day)]


@router.get("/v1/rejections", response_model=RejectionReport, responses=AUTH_ERRORS,
            summary="Your rejected observations per day and reason")
def rejections(supplier: Authenticated, services: Services,
               from_day: Annotated[Day, Query(alias="from", description=FROM_DAY)] = None,
               to_day: Annotated[Day, Query(alias="to", description=TO_DAY)] = None,
               ) -> RejectionReport:
    to_day = to_day or datetime.now(UTC).date()
    from_day = from_day or to_day - timedelta(days=30)
    counts = rejection_counts(services.lake, supplier.name, from_day, to_day)
    return RejectionReport(supplier=supplier.name, from_day=from_day.isoformat(), to_day=to_day.isoformat(),
                           total=sum(c.count for c in counts), rejections=counts)


@router.get("/v1/cameras", response_model=list[CameraState], responses=AUTH_ERRORS,
            summary="Your cameras as the platform places them: configured by the platform team or registered by you")
def cameras(supplier: Authenticated, services: Services) -> list[CameraState]:
    return services.cameras.states(supplier)
