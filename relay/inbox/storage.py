"""The inbox on an Azure Storage Queue: what the Function App's intake writes and its queue trigger reads.

Messages are the alert body as base64 text (the Functions host's messageEncoding "base64" decodes them
for the trigger). The Functions host itself retries a failed message and moves it to `<queue>-poison`
after maxDequeueCount; take/done/retry_later/give_up serve a worker that reads the queue on its own.
The Azure SDKs are imported on first use: the Function App imports this module to register its triggers.
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping

from relay.inbox import Item, Parked
from relay.inbox.retry import MAX_TRIES
from relay.runtime import connections

log = logging.getLogger("relay.inbox")

QUEUE = "relay-inbox"
MAX_BODY_BYTES = 48 * 1024  # a message holds 64 KiB, and base64 makes 4 characters of every 3 bytes
LEASE_SECONDS = 300  # a taken message of a worker that died is due again after this
NEVER_EXPIRES = -1  # the service default drops messages after 7 days
PEEK_MAX = 32  # the most messages one peek or receive returns
REPLAY_HOLD_SECONDS = 60  # while replay reads the poison queue, what it read is hidden from other readers


def fits(body: bytes) -> bool:
    return len(body) <= MAX_BODY_BYTES


def connection_name(environ: Mapping[str, str]) -> str:
    """The setting (or setting prefix) for the queue's account, as a binding's `connection` names it."""
    return environ.get("RELAY_QUEUE_CONNECTION") or "AzureWebJobsStorage"


def queue_configured(environ: Mapping[str, str]) -> bool:
    """Whether the connection is set: to a connection string, or (managed identity) through
    `<name>__queueServiceUri` or `<name>__accountName`, with `<name>__credential=managedidentity` and
    `<name>__clientId` for a user-assigned identity."""
    return connections.configured(environ, connection_name(environ), "queue")


def queue_inbox(environ: Mapping[str, str], queue: str = QUEUE) -> StorageQueueInbox | None:
    """The queue the connection points at; None when it is not configured."""
    if not queue_configured(environ):
        return None
    name = connection_name(environ)
    if environ.get(name):
        return StorageQueueInbox.from_connection_string(environ[name], queue)
    return StorageQueueInbox.from_account(connections.account_url(environ, name, "queue"),
                                          connections.credential(environ, name), queue)


class StorageQueueInbox:
    def __init__(self, queue, poison, lease_seconds: int = LEASE_SECONDS):
        """`queue` and `poison` are azure.storage.queue.QueueClients that encode text as base64."""
        self._queue, self._poison, self._lease = queue, poison, lease_seconds
        self.parked_where = f"the Storage Queue {poison.queue_name}"
        self._taken: dict = {}  # id → the received message, whose pop receipt done() and the others need
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, queue: str = QUEUE) -> StorageQueueInbox:
        from azure.storage.queue import QueueClient

        main, poison = (QueueClient.from_connection_string(connection_string, name, **_options())
                        for name in (queue, f"{queue}-poison"))
        return cls(main, poison)

    @classmethod
    def from_account(cls, account_url: str, credential, queue: str = QUEUE) -> StorageQueueInbox:
        from azure.storage.queue import QueueClient

        main, poison = (QueueClient(account_url, name, credential=credential, **_options())
                        for name in (queue, f"{queue}-poison"))
        return cls(main, poison)

    def put(self, body: bytes) -> str:
        if not fits(body):
            raise ValueError(f"a body of {len(body)} bytes is over the {MAX_BODY_BYTES} a queue message holds")
        return _send(self._queue, body.decode("utf-8"))

    def take(self) -> Item | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            message = self._queue.receive_message(visibility_timeout=self._lease)
        except ResourceNotFoundError:  # nothing was ever put
            return None
        if message is None:
            return None
        with self._lock:
            self._taken[message.id] = message
        return Item(message.id, message.content.encode("utf-8"), message.dequeue_count - 1)

    def done(self, item_id: str) -> None:
        self._queue.delete_message(self._release(item_id))

    def retry_later(self, item_id: str, delay_seconds: float) -> None:
        message = self._release(item_id)
        self._queue.update_message(message.id, pop_receipt=message.pop_receipt,
                                   visibility_timeout=math.ceil(delay_seconds))

    def give_up(self, item_id: str, reason: str) -> None:
        """Moves the message to the poison queue, as the Functions host does, so both read the same."""
        message = self._release(item_id)
        self.park(message.content.encode("utf-8"))
        self._queue.delete_message(message)
        log.error("gave up on %s, now in %s: %s", item_id, self._poison.queue_name, reason)

    def park(self, body: bytes) -> str:
        """Puts a copy of an alert on the poison queue; the copy's id, which `relay poison replay` takes."""
        return _send(self._poison, body.decode("utf-8"))

    def parked(self, limit: int = 32) -> list[Parked]:
        """The oldest poisoned messages, looked at without taking them (Storage shows at most 32 so)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            messages = self._poison.peek_messages(max_messages=min(limit, PEEK_MAX))
        except ResourceNotFoundError:  # nothing was ever poisoned
            return []
        return [Parked(m.id, m.content.encode("utf-8"), MAX_TRIES, None, m.inserted_on)
                for m in messages]

    def poisoned_count(self) -> int:
        """Storage's approximate count of the poison queue."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._poison.get_queue_properties().approximate_message_count or 0
        except ResourceNotFoundError:
            return 0

    def replay(self, item_id: str) -> str | None:
        """Finds the message by reading the poison queue a page at a time; what it read and passed over is
        made visible again once the search ends (not before, or the search would read it again)."""
        passed, new_id = [], None
        try:
            for page in self._poisoned_pages():
                for message in page:
                    if new_id is None and message.id == item_id:
                        new_id = self._move_back(message)
                    else:
                        passed.append(message)
                if new_id is not None:
                    break
        finally:
            for message in passed:
                self._poison.update_message(message, visibility_timeout=0)
        return new_id

    def replay_all(self) -> list[str]:
        return [self._move_back(message) for page in self._poisoned_pages() for message in page]

    def _move_back(self, message) -> str:
        new_id = _send(self._queue, message.content)
        self._poison.delete_message(message)
        return new_id

    def _poisoned_pages(self):
        from azure.core.exceptions import ResourceNotFoundError

        try:
            pages = self._poison.receive_messages(messages_per_page=PEEK_MAX, visibility_timeout=REPLAY_HOLD_SECONDS)
            for page in pages.by_page():
                yield list(page)
        except ResourceNotFoundError:
            return

    def close(self) -> None:
        self._queue.close()
        self._poison.close()

    def _release(self, item_id: str):
        with self._lock:
            return self._taken.pop(item_id)


def _options() -> dict:
    """Base64 text, as the queue trigger reads it; and few, short retries (the SDK's take about a minute),
    so that the intake answers within seconds even when Storage does not: its 503 makes Azure retry."""
    from azure.storage.queue import LinearRetry, TextBase64DecodePolicy, TextBase64EncodePolicy

    return {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy(),
            "retry_policy": LinearRetry(backoff=1, retry_total=2, random_jitter_range=1), "connection_timeout": 5}


def _send(queue, text: str) -> str:
    """Sends, creating the queue on first use."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    try:
        return queue.send_message(text, time_to_live=NEVER_EXPIRES).id
    except ResourceNotFoundError:
        try:
            queue.create_queue()
        except ResourceExistsError:
            pass
        return queue.send_message(text, time_to_live=NEVER_EXPIRES).id
