"""Slack: an incoming webhook (transport "slack"), or a bot token (transport "slack-bot") that threads.

The bot posts the first message of an event and keeps its ts in the ledger. Each later message of the
same event first edits that parent (chat.update, so it shows the current state), then posts the
message as a reply under it. In that order, a retry after any failure repeats only the update, which
is harmless: the reply is the last call, so once it has succeeded nothing is sent again.

The bot can also tell whether Slack already has a message (relay.channels.Checkable): each post carries the
attempt's delivery id in its message metadata, and `find` looks for it in the channel's history (a first
message) or in the event's thread (a reply).

slack_sdk is given a logger of our own: its debug lines carry the webhook URL and request bodies.
"""
from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from relay.channels import ChannelUnavailable, RateLimit, ThreadStore, destination_key, http, rate_of, secret_from
from relay.model import Attempt, Message, Receiver, SendResult

DEFAULT_API_URL = "https://slack.com/api/"
RETRYABLE_ERRORS = {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                    "request_timeout"}
PARENT_GONE = {"cant_update_message", "message_not_found"}
_SLACK_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")  # Slack's error codes; anything else is not passed on
DELIVERY_EVENT = "relay_delivery"  # the metadata event_type of every message the bot posts
# conversations.history and conversations.replies are Tier 3 (50+ a minute, per method, workspace and app) for
# internal and Marketplace apps; a commercially distributed app outside the Marketplace gets 1 a minute and
# pages of at most 15 (docs.slack.dev/reference/methods/conversations.history; `lookup_per_second` overrides).
LOOKUP_PER_SECOND = 50 / 60
LOOKUP_PAGE = 200  # messages asked for a page; Slack may return fewer, and the cursor follows
# Slack stamps a message with its own clock; ours, which set first_sent, may run a little ahead of it.
CLOCK_MARGIN = timedelta(minutes=5)

log = logging.getLogger(__name__)


class _Redact(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "(redacted)")
        record.msg, record.args = text, ()
        return True


def _sdk_logger(*secrets: str) -> logging.Logger:
    """WARNING and above from slack_sdk, redacted, under this module's logger. slack_sdk builds its
    debug lines (URL, body) whenever its logger's own level is DEBUG or unset, so it is set here."""
    logger = logging.Logger(f"{__name__}.sdk", logging.WARNING)
    logger.parent = log
    logger.addFilter(_Redact(secrets))
    return logger


def _payload(message: Message) -> dict[str, Any]:
    return json.loads(message.body)


class SlackWebhookChannel:
    def __init__(self, url: str, *, limit: RateLimit | None = None, timeout: float = http.DEFAULT_TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None):
        self.limit = limit
        # slack_sdk annotates timeout as int, but hands it to urlopen, which takes seconds as a float.
        self._client = WebhookClient(url, timeout=timeout, ssl=ssl_context, retry_handlers=[],  # type: ignore[arg-type]
                                     logger=_sdk_logger(url))

    def send(self, message: Message) -> SendResult:
        try:
            response = self._client.send_dict(_payload(message))
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, "Slack webhook")
        if response.status_code == 200 and response.body == "ok":
            return SendResult.delivered("posted by the Slack webhook")
        code = _slack_code(response.body)
        if http.is_retryable(response.status_code):
            return http.failure(response.status_code, response.headers, f"Slack webhook: {code}" if code else "Slack webhook")
        return SendResult.failed(code or f"Slack webhook: HTTP {response.status_code}", retryable=False)


class SlackBotChannel:
    def __init__(self, token: str, channel: str, *, receiver: str, threads: ThreadStore, api_url: str = DEFAULT_API_URL,
                 limit: RateLimit | None = None, lookup_limit: RateLimit | None = None,
                 timeout: float = http.DEFAULT_TIMEOUT, ssl_context: ssl.SSLContext | None = None):
        self.limit = limit
        self.lookup_limit = lookup_limit
        self.channel = channel
        self.receiver = receiver
        self._threads = threads
        base_url = api_url if api_url.endswith("/") else api_url + "/"
        # As above: slack_sdk annotates timeout as int, but urlopen takes a float.
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout, ssl=ssl_context,  # type: ignore[arg-type]
                                 retry_handlers=[], logger=_sdk_logger(token))

    def send(self, message: Message) -> SendResult:
        payload = _payload(message)
        content = {"text": payload.get("text"), "blocks": payload.get("blocks")}
        mark = _mark(message.attempt) if message.attempt is not None else None
        parent = self._threads.thread_reference(message.thread_key, self.receiver)
        step = "chat.postMessage"
        try:
            if parent is None:
                posted = self._client.chat_postMessage(channel=self.channel, metadata=mark, **content)
                self._threads.remember_thread(message.thread_key, self.receiver, f"{posted['channel']}:{posted['ts']}")
                return SendResult.delivered("posted; later updates reply in its thread", reference=posted["ts"])
            channel, ts = parent.split(":", 1)
            note = "the first message now shows this update"
            step = "chat.update"
            try:
                self._client.chat_update(channel=channel, ts=ts, **content)
            except SlackApiError as e:
                if _code(e) not in PARENT_GONE:
                    raise
                note = f"the first message could not be updated ({_code(e)})"
            step = "chat.postMessage (reply)"
            reply = self._client.chat_postMessage(channel=channel, thread_ts=ts, reply_broadcast=False, metadata=mark,
                                                  **content)
            return SendResult.delivered(f"replied in the thread of {ts}; {note}", reference=reply["ts"])
        except SlackApiError as e:
            return _api_failure(e, step)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, f"Slack {step}")

    def find(self, message: Message) -> SendResult | None:
        """The message posted with `message.attempt`'s delivery id: a first message in the channel's history since
        the attempt began, a reply in the event's thread. A first message found is remembered as send does."""
        attempt = message.attempt
        if attempt is None:
            raise ValueError("find needs the attempt the message was sent with")
        oldest = f"{(attempt.first_sent - CLOCK_MARGIN).timestamp():.6f}"
        parent = self._threads.thread_reference(message.thread_key, self.receiver)
        call: Callable[..., SlackResponse]
        if parent is None:
            step, call, where = "conversations.history", self._client.conversations_history, {"channel": self.channel}
        else:
            channel, ts = parent.split(":", 1)
            step, call = "conversations.replies", self._client.conversations_replies
            where = {"channel": channel, "ts": ts}
        try:
            found = next((m for m in _pages(call, oldest=oldest, **where) if _carries(m, attempt)), None)
        except SlackApiError as e:
            if parent is not None and _code(e) == "thread_not_found":  # the parent is gone, and its replies with it
                return None
            return _api_failure(e, step)
        except http.NETWORK_ERRORS as e:
            return http.network_failure(e, f"Slack {step}")
        if found is None:
            return None
        if parent is None:
            self._threads.remember_thread(message.thread_key, self.receiver, f"{self.channel}:{found['ts']}")
            return SendResult.delivered("already posted; later updates reply in its thread", reference=found["ts"])
        return SendResult.delivered(f"already replied in the thread of {where['ts']}", reference=found["ts"])


def _mark(attempt: Attempt) -> dict[str, Any]:
    return {"event_type": DELIVERY_EVENT, "event_payload": {"delivery": attempt.delivery_id}}


def _carries(message: dict[str, Any], attempt: Attempt) -> bool:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != DELIVERY_EVENT:
        return False
    payload = metadata.get("event_payload")
    return isinstance(payload, dict) and payload.get("delivery") == attempt.delivery_id


def _pages(call: Callable[..., SlackResponse], **args: Any) -> Iterator[dict[str, Any]]:
    """The messages of a conversations.* call, page after page as its cursor leads; the caller stops when it may."""
    cursor = None
    while True:
        page = call(**args, include_all_metadata=True, limit=LOOKUP_PAGE, cursor=cursor)
        yield from page.get("messages") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def _slack_code(text: object) -> str | None:
    text = str(text or "").strip()
    return text if _SLACK_CODE.fullmatch(text) else None


def _code(error: SlackApiError) -> str:
    data = error.response.data if error.response is not None else None
    return (_slack_code(data.get("error")) if isinstance(data, dict) else None) or ""


def _api_failure(error: SlackApiError, step: str) -> SendResult:
    """HTTP 429/5xx and Slack's transient codes may pass later; every other `ok: false` will not."""
    status, headers = (error.response.status_code, error.response.headers) if error.response is not None else (0, {})
    code = _code(error) or "an unexpected answer"
    detail = f"Slack {step}: {code}"
    if http.is_retryable(status):
        return http.failure(status, headers, detail)
    if code in RETRYABLE_ERRORS:
        wait = http.retry_after(http.header(headers, "Retry-After"))
        return SendResult.failed(detail, retryable=True, retry_after=wait)
    return SendResult.failed(detail, retryable=False)


def destination(receiver: Receiver, environ: Mapping[str, str]) -> str:
    """The bot token, or the incoming-webhook URL (https), in the receiver's variable."""
    secret = secret_from(receiver, environ)
    if receiver.transport == "slack":
        http.require_https(secret, receiver.name, f"environment variable {receiver.destination_env}")
    return secret


def from_receiver(receiver: Receiver, *, environ: Mapping[str, str], threads: ThreadStore | None = None,
                  timeout: float = http.DEFAULT_TIMEOUT,
                  ssl_context: ssl.SSLContext | None = None) -> SlackWebhookChannel | SlackBotChannel:
    secret = destination(receiver, environ)
    rate = rate_of(receiver, 1.0)
    if receiver.transport == "slack-bot":
        if threads is None:
            raise ValueError("a Slack bot channel needs a ThreadStore (the ledger) to keep its threads")
        channel = receiver.options.get("slack_channel", "").strip()
        if not channel:
            raise ChannelUnavailable(f"receiver {receiver.name!r}: slack_channel (a channel id like C0123456789) is required")
        api_url = receiver.options.get("api_url") or DEFAULT_API_URL
        http.require_https(api_url, receiver.name, "api_url")
        # Slack limits a lookup method per app and workspace (the token), whatever the channel.
        lookups = RateLimit(destination_key(f"{secret}:lookup"),
                            float(receiver.options.get("lookup_per_second", LOOKUP_PER_SECOND)))
        return SlackBotChannel(secret, channel, receiver=receiver.name, threads=threads, api_url=api_url,
                               limit=RateLimit(destination_key(f"{secret}:{channel}"), rate), lookup_limit=lookups,
                               timeout=timeout, ssl_context=ssl_context)
    return SlackWebhookChannel(secret, limit=RateLimit(destination_key(secret), rate), timeout=timeout,
                               ssl_context=ssl_context)
