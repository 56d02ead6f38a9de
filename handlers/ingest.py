"""HTTP triggers: POST /api/alerts from an Action Group, POST /api/scheduled-events from `relay agent` on a
VM. Each binds the request to FunctionHost.receive; nothing else.

The Functions host checks the function key before these run; the relay checks the Entra ID token when
RELAY_ENTRA_* is set, before the body is touched."""
from __future__ import annotations

import azure.functions as func

from relay.hosts.function import FunctionHost
from relay.hosts.intake import ALERTS, SCHEDULED_EVENTS


def blueprint(host: FunctionHost) -> func.Blueprint:
    bp = func.Blueprint()

    def receive(req: func.HttpRequest, endpoint: str) -> func.HttpResponse:
        reply = host.receive(req.get_body(), req.headers.get("Authorization"), endpoint)
        return func.HttpResponse(reply.encoded(), status_code=reply.status, headers=reply.headers,
                                 mimetype=reply.content_type, charset="utf-8")

    @bp.function_name("ingest")
    @bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def ingest(req: func.HttpRequest) -> func.HttpResponse:
        return receive(req, ALERTS)

    @bp.function_name("scheduled_events")
    @bp.route(route="scheduled-events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def scheduled_events(req: func.HttpRequest) -> func.HttpResponse:
        return receive(req, SCHEDULED_EVENTS)

    return bp
