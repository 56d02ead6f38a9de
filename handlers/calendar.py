"""HTTP trigger: GET /api/calendar.ics?receiver=NAME, a receiver's maintenance calendar for Outlook or Google to
subscribe to (with the function key in the URL). Binds the request to FunctionHost.calendar; nothing else."""
from __future__ import annotations

import azure.functions as func

from relay.hosts.function import FunctionHost


def blueprint(host: FunctionHost) -> func.Blueprint:
    bp = func.Blueprint()

    @bp.function_name("calendar")
    @bp.route(route="calendar.ics", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def calendar(req: func.HttpRequest) -> func.HttpResponse:
        reply = host.calendar(req.params.get("receiver"), req.headers.get("If-None-Match"))
        return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers,
                                 mimetype=reply.content_type, charset="utf-8")

    return bp
