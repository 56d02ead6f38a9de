"""HTTP trigger: POST /api/alerts from an Action Group. Binds the request to relay.ingest; nothing else."""
from __future__ import annotations

import functools
import os

import azure.functions as func

bp = func.Blueprint()


def _relay():
    from relay.app import from_environment

    return from_environment(dict(os.environ))


@functools.cache
def _keep():
    # Built on the first call, not at import: a cold start loads no more than the intake needs.
    # With a queue configured the alert waits there for the queue trigger; without one it is relayed now.
    from relay.inbox.storage import queue_inbox

    inbox = queue_inbox(os.environ)
    if inbox is None:
        from relay.ingest import process_inline

        return process_inline(_relay())
    from relay.queue_processing import keep_in_queue

    return keep_in_queue(inbox, functools.cache(_relay))


@bp.function_name("ingest")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def ingest(req: func.HttpRequest) -> func.HttpResponse:
    from relay.ingest import ingest as receive

    reply = receive(req.get_body(), lambda body, event: _keep()(body, event))
    return func.HttpResponse(reply.encoded(), status_code=reply.status, headers=reply.headers,
                             mimetype=reply.content_type, charset="utf-8")
