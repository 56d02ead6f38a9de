"""HTTP trigger: POST /api/messages, the activities the Bot Framework posts to the Teams bot (a press of a card's
button, the bot added to a team …). Binds the request to FunctionHost.messages; nothing else. Registered only when
some receiver of the config is a Teams bot.

Auth level ANONYMOUS, on purpose: the Bot Framework calls the messaging endpoint registered for the bot as it is and
cannot send a function key. Its JWT is the authentication: FunctionHost.messages checks it (signed by the Bot
Framework's published keys, endorsed for Teams, issued by https://api.botframework.com for the bot's app id, not
expired, for this activity's serviceUrl) before the body is parsed, and refuses anything else with 401/403."""
from __future__ import annotations

import azure.functions as func

from relay.hosts.function import FunctionHost


def blueprint(host: FunctionHost) -> func.Blueprint:
    bp = func.Blueprint()

    @bp.function_name("messages")
    @bp.route(route="messages", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def messages(req: func.HttpRequest) -> func.HttpResponse:
        reply = host.messages(req.get_body(), req.headers.get("Authorization"))
        return func.HttpResponse(reply.encoded(), status_code=reply.status, headers=reply.headers,
                                 mimetype=reply.content_type, charset="utf-8")

    return bp
