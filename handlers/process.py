"""Queue trigger: relays each alert the intake put on the Storage Queue. Binds the message to
relay.queue_processing; nothing else. An exception leaves the message to the host: tried again after
host.json's visibilityTimeout. On the last try the relay parks the alert in the poison queue itself."""
from __future__ import annotations

import functools
import os

import azure.functions as func

from relay.inbox.storage import QUEUE, connection_name

bp = func.Blueprint()


@functools.cache
def _relay():
    # Built on the first message, not at import.
    from relay.app import from_environment

    return from_environment(dict(os.environ))


@functools.cache
def _inbox():
    from relay.inbox.storage import queue_inbox

    return queue_inbox(os.environ)


@bp.function_name("process")
@bp.queue_trigger(arg_name="msg", queue_name=QUEUE, connection=connection_name(os.environ))
def process(msg: func.QueueMessage) -> None:
    from relay.queue_processing import handle_message

    handle_message(msg.get_body(), msg.dequeue_count, _relay(), msg.id, park=_inbox().park)
