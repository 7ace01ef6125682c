"""The suppliers' ingest service (`anpr serve-ingest`): the working group's ingest contract.

Routes: POST / (api/ingest/routes/delivery.py), GET /v1/rejections and /v1/cameras (routes/reports.py),
GET /health. Envelopes, camera payloads and the types and event_time of observations are checked
here (a message is published whole or not at all); the rest of observation content is checked by the
stream, which reports rejections per supplier.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.common.docs import install_docs
from api.common.errors import InternalErrors, install_error_document, install_error_handlers
from api.common.middleware import HeadAsGet
from api.common.ratelimit import SlidingLog
from api.ingest.openapi import install_openapi
from api.ingest.routes import delivery, reports
from api.ingest.services import IngestServices
from api.ingest.tracing import TraceIds


def create_ingest_app(services: IngestServices) -> FastAPI:
    """The ASGI app over `services`; per-supplier message limits are kept per process."""
    app = FastAPI(title="ANPR ingest API (CBS ingestion API v2)", version="2.0.0",
                  docs_url=None, redoc_url=None,  # /docs from local assets: install_docs
                  description="One POST / per delivery: observation batches and camera metadata of the "
                              "municipalities' ANPR suppliers. Answers 202 once every message is stored in Kafka.")
    install_error_handlers(app)
    app.add_middleware(InternalErrors)  # inside TraceIds: its 500s carry the trace id
    app.add_middleware(HeadAsGet)
    app.add_middleware(TraceIds)
    app.state.services = services
    app.state.limiter = SlidingLog()
    app.include_router(delivery.router)
    app.include_router(reports.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    install_openapi(app)
    install_docs(app)
    install_error_document(app)
    return app
