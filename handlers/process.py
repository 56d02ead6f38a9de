"""Queue trigger: relays each alert the intake put on the Storage Queue. Binds the message to
FunctionHost.process; nothing else. An exception leaves the message to the host: tried again after
host.json's visibilityTimeout. On the last try the relay parks the alert in the poison queue itself."""
from __future__ import annotations

import azure.functions as func

from relay.hosts.function import FunctionHost
from relay.inbox.storage import QUEUE, connection_name


def blueprint(host: FunctionHost) -> func.Blueprint:
    bp = func.Blueprint()

    @bp.function_name("process")
    @bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=connection_name(host.environ))
    def process(msg: func.QueueMessage) -> None:
        host.process(msg.get_body(), msg.dequeue_count or 1, msg.id or "")

    return bp
