"""HTTP triggers: POST /api/alerts from an Action Group, POST /api/scheduled-events from `relay agent` on a
VM. Each binds the request to relay.ingest; nothing else.

The host checks the function key before these run; relay.ingest.authenticate checks the Entra ID token
when RELAY_ENTRA_* is set, before the body is touched."""
from __future__ import annotations

import functools
import os

import azure.functions as func

bp = func.Blueprint()


@functools.cache
def _keep():
    # Built on the first call, not at import: a cold start loads no more than the intake needs.
    from relay.ingest import keeper_for

    return keeper_for(os.environ)


@functools.cache
def _entra():
    from relay.auth import entra_check

    return entra_check(os.environ)


def _receive(req: func.HttpRequest, endpoint: str) -> func.HttpResponse:
    from relay.ingest import authenticate, ingest

    reply = (authenticate(_entra, req.headers.get("Authorization"), endpoint)
             or ingest(req.get_body(), lambda body, event: _keep()(body, event), endpoint))
    return func.HttpResponse(reply.encoded(), status_code=reply.status, headers=reply.headers,
                             mimetype=reply.content_type, charset="utf-8")


@bp.function_name("ingest")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def ingest(req: func.HttpRequest) -> func.HttpResponse:
    return _receive(req, "/api/alerts")


@bp.function_name("scheduled_events")
@bp.route(route="scheduled-events", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def scheduled_events(req: func.HttpRequest) -> func.HttpResponse:
    return _receive(req, "/api/scheduled-events")
