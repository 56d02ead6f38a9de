"""A loopback Bot Connector as a bot in Teams channels sees it, for the Teams bot receiver's tests: the bot's
token endpoint (and the tenant's OpenID configuration msal reads first, and App Service's managed identity endpoint),
the Connector's conversation REST API, the documented throttles, and the inbound side (the OpenID metadata and keys
that activities posted to our POST /api/messages are signed with).

    with BotConnector(tls=ca) as bc:
        bc.token_url, bc.app_id, bc.client_secret, bc.tenant   # client credentials, single-tenant
        bc.authority                  # stands for https://login.microsoftonline.com (a receiver's `authority`)
        bc.identity_environ()         # IDENTITY_ENDPOINT and IDENTITY_HEADER: the managed identity that is the bot
        bc.identity_requests          # what the managed identity endpoint was asked: {"resource", "client_id", …}
        bc.service_url                                          # the serviceUrl: {service_url}v3/conversations…
        bc.threads(CHANNEL)           # [Thread]: .root (.activity now, .versions, .updates), .replies in order
        bc.thread(conversation_id)    # one thread, by "19:…@thread.tacv2;messageid=…"
        bc.operations                 # every accepted call: {"op", "conversation", "activity_id", "activity"}
        bc.throttled, bc.refusals     # 429s answered (and why); bc.early_retries: calls back before Retry-After
        bc.fail_next(503, op="send")  # the next send fails (op None: the next request of any kind)
        bc.lose_next_answer("update") # the next update takes effect, then the connection drops unanswered
        bc.uninstall(CHANNEL)         # 403 BotNotInConversationRoster from now on
        bc.expire_tokens()            # every token issued so far is expired: 401
      inbound:
        bc.openid_url, bc.jwks_url    # BotOpenIdMetadata and its keys (each key with `endorsements`)
        activity = bc.invoke("ack", {"notice": "n-1"}, thread=t)   # an Action.Execute press on a card
        bc.headers(activity)          # Authorization (a valid token for it) and Content-Type
        bc.token(activity), bc.expired_token(activity), bc.wrong_audience_token(activity),
        bc.wrong_issuer_token(activity), bc.forged_token(activity), bc.unendorsed_token(activity)
        bc.keys.rotate()              # publishes a new key and signs with it from now on

    BotConnector(tls=ca, limits=BotLimits(second=0.05))   # the documented windows, 20 times faster
    BotConnector(tls=ca, limits=None)                     # no throttling

Endpoints (one HTTPS server on 127.0.0.1):
    POST /{tenant}/oauth2/v2.0/token                 login.microsoftonline.com: client credentials
    GET  /{tenant}/v2.0/.well-known/openid-configuration   the tenant's OpenID configuration (msal's first call)
    GET  /msi/token?resource=&client_id=&api-version=      App Service's managed identity endpoint (IDENTITY_ENDPOINT)
    GET  /v1/.well-known/openidconfiguration         login.botframework.com: OpenID metadata
    GET  /v1/.well-known/keys                        its JWKS, each key with "endorsements": ["msteams"]
    POST /teams/v3/conversations                     Create Conversation (a new thread in a channel) → 201
    POST /teams/v3/conversations/{id}/activities     Send to Conversation → 201 {"id"}
    POST /teams/v3/conversations/{id}/activities/{activityId}   Reply to Activity → 201 {"id"}
    PUT  /teams/v3/conversations/{id}/activities/{activityId}   Update Activity → 200 {"id"}

What it keeps: each channel's threads in order. A thread is its root message, with the current version and every
version it had, and its replies in order. Sending to the channel's id (no ";messageid=") starts a new thread, as a
top-level post does. Sending to a thread's id, or replying to any of its messages, adds a reply. An update replaces
the stored activity and keeps its id.

Documented facts, with sources. [doc] means a page says it; [obs] means it was observed on the live service and
recorded in Microsoft's own repository; (inferred) means no page says it and it is this emulator's choice.

  REST, "API reference" (Bot Connector service),
  https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference
    [doc] The activity's serviceUrl is the base URI (https://smba.trafficmanager.net/teams/ when a bot has none yet).
    [doc] Create Conversation takes ConversationParameters {isGroup, bot, members, topicName, tenantId, activity,
          channelData} and returns ConversationResourceResponse {id, activityId, serviceUrl}.
    [doc] Send and Reply return ResourceResponse {id}; Update is a PUT of an Activity and returns ResourceResponse.
    [doc] Every 4xx or 5xx has an ErrorResponse body {"error": {"code", "message"}}.
  "CreateConversation API Behavior", microsoft/teams.net core/docs (captured from the live endpoint, 2026-04-17)
    [obs] A channel thread is {"isGroup": true, "activity": …, "channelData": {"channel": {"id"}}, "tenantId"} → 201
          {"id": "19:…@thread.tacv2;messageid=1776390257332", "activityId": "1776390257332"}. There is no serviceUrl
          in the answer, so the emulator leaves it out. With no activity, or as a group chat: 400 {"error":
          {"code": "BadSyntax", "message": "Incorrect conversation creation parameters"}}. tenantId is required.
          The emulator also accepts channelData.tenant.id (inferred).
  "Channel and group chat conversations with a bot",
  https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/channel-and-group-conversations
    [doc] A channel message's conversation id is "19:…@thread.skype;messageid=1481567603816". Current channels use
          @thread.tacv2 [obs].
  "Messages in bot conversations", status codes from bot conversational APIs,
  https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/conversations/conversation-messages
    [doc] 400 BadArgument; 401 BotNotRegistered; 403 BotNotInConversationRoster ("The bot isn't part of the
          conversation roster."); 404 ActivityNotFoundInConversation ("Conversation not found.": the message id is not
          in the conversation); 404 ConversationNotFound; 412 PreconditionFailed; 413 MessageSizeTooBig;
          429 Throttled ("Retry using Retry-After header to determine backoff time"); 502/503/504 are retried.
    [doc] The Teams pages put the message size limit at 28 KB. The emulator counts it as 28 × 1024 bytes of body
          (inferred). Send and reply answer 201 and update 200 (inferred: the create's 201 is the only one observed).
  "Authentication with the Bot Connector API",
  https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
    [doc] Bot to Connector: POST https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token, grant_type=
          client_credentials, client_id, client_secret, scope=https://api.botframework.com/.default →
          {"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}. A single-tenant bot uses its own
          tenant (botframework-connector: channelAuthTenant "Required for SingleTenant app types"). A multi-tenant bot
          uses "botframework.com". The emulator's tokens are opaque. Its token errors follow Entra ID's
          (invalid_client 401 AADSTS7000215, unauthorized_client 400 AADSTS700016, …) (inferred).
    msal reads the tenant's OpenID configuration ({authority}/{tenant}/v2.0/.well-known/openid-configuration) before
          its first token: the emulator answers with its issuer, endpoints and token_endpoint (the fields msal reads).
  "Managed identities for App Service and Azure Functions", REST endpoint reference,
  https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity
    [doc] GET {IDENTITY_ENDPOINT}?resource=…&api-version=2019-08-01&client_id=… with the header X-IDENTITY-HEADER:
          {IDENTITY_HEADER} → {"access_token", "expires_on", "resource", "token_type"}. The bot's token is for the
          resource https://api.botframework.com, from the identity whose client id is the bot's app id. The emulator
          answers a wrong header 401 and another resource or client id 400 (inferred: the error bodies).
    [doc] Connector to bot: the JWT in "Authorization: Bearer". OpenID metadata is at the static URL
          https://login.botframework.com/v1/.well-known/openidconfiguration: {"issuer": "https://api.botframework.com",
          "jwks_uri": …/v1/.well-known/keys, "id_token_signing_alg_values_supported": ["RS256"], …}. Each key also
          has "endorsements", the channel ids it may sign for: an activity whose channelId the key does not endorse
          is refused with 403. The token is checked for issuer https://api.botframework.com, audience = the bot's
          Microsoft App ID, validity with "Industry-standard clock-skew is 5 minutes", a signature by a listed key
          with a listed algorithm, and "a "serviceUrl" claim … that matches the serviceUrl property at the root of
          the Activity". Failing any of these: 403. The claim's name on the wire is "serviceurl" (botframework-
          connector's AuthenticationConstants.ServiceUrlClaim), and the emulator mints it so.
  "Optimize your bot with rate limiting in Teams" (newest revision: "Rate limiting for agents"),
  https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit
    [doc] Over the limit: HTTP 429; "All requests are subject to the same rate limiting policy". Newest: "wait for
          the period specified in the Retry-After response header before you retry".
    [doc] Per bot per thread, where "A conversation is 1:1 between bot and user, a group chat, or a channel in a
          team": Send to conversation and Create conversation each allow 7 in 1 s, 8 in 2 s, 60 in 30 s, and 1800 in
          3600 s. "The global limit per app per tenant is 50 Requests Per Second" (30 in earlier revisions).
          Per thread for all bots: 14 in 1 s, 16 in 2 s. Values are "for estimation only".
    The emulator's choices (inferred): the windows slide (at most N in any T seconds), and a refused call does not
    count. A thread is the channel, so all its reply threads share one budget (BotLimits.per_reply_thread to key on
    each reply thread instead). Reply and Update spend the Send budget. The 3600 s window also applies in channels,
    although the page says it "applies only if multiple bot messages are sent to a single user". The all-bots
    limit is not enforced: with one bot, the per-bot limit always binds first. Retry-After is in whole seconds,
    rounded up; in scaled time (BotLimits.second < 1) it is fractional.
  "Work with Universal Actions for Adaptive Cards",
  https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/work-with-universal-actions-for-adaptive-cards
    [doc] Action.Execute reaches the bot as an invoke activity named "adaptiveCard/action", whose value.action is
          {type "Action.Execute", verb, data} (botframework-schema AdaptiveCardInvokeAction). The bot answers the
          HTTP request with {statusCode, type, value}. Two fields are not confirmed by this research (inferred):
          replyToId is the id of the message that holds the card (from samples), and value.trigger is "manual"
          (from the Universal Action Model's request format, not re-read).
"""
from __future__ import annotations

import bisect
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote

import jwt

from tests.sinks.entra import SigningKey
from tests.sinks.server import LoopbackServer, Reply, Request, Sink, TestCA

APP_ID = "5d0c3b7e-8f21-4a6d-9b3e-1c2d3e4f5a6b"  # the bot's Microsoft App ID (its Entra app registration)
TENANT = "3c9a1f2e-7b6d-4e5f-8a9b-0c1d2e3f4a5b"
TEAM = "19:5f0e6d7c8b9a4e3d2c1b0a9f8e7d6c5b@thread.tacv2"
CHANNEL = "19:c0ffee00ba5e4c1d8e2f3a4b5c6d7e8f@thread.tacv2"
OTHER_CHANNEL = "19:0ddba11a5eed4c2b9a8f7e6d5c4b3a29@thread.tacv2"
BOT_NAME = "Maintenance Relay"
SCOPE = "https://api.botframework.com/.default"
ISSUER = "https://api.botframework.com"
MULTI_TENANT = "botframework.com"  # the token authority's tenant for multi-tenant bots
MSTEAMS = "msteams"  # the channelId of Teams activities, and the endorsement its keys carry
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
MAX_ACTIVITY_BYTES = 28 * 1024
CLOCK_SKEW = 300  # seconds: "Industry-standard clock-skew is 5 minutes"
CONNECTOR_OPS = ("create", "send", "reply", "update")
OPS = ("token", "openid", "keys", *CONNECTOR_OPS)
WINDOWS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))  # (operations, seconds): send and create alike
IDENTITY_HEADER = "identity-header-value"  # IDENTITY_HEADER as App Service sets it, which the endpoint checks
BOT_RESOURCE = "https://api.botframework.com"  # the resource a managed identity asks its token for


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """The Connector's ErrorResponse."""
    return Reply(status, {"error": {"code": code, "message": message}}, headers or {})


def _entra_error(status: int, error: str, code: int, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code]})


FAULT_CODES = {400: "BadArgument", 401: "BotNotRegistered", 403: "BotNotInConversationRoster",
               404: "ConversationNotFound", 412: "PreconditionFailed", 413: "MessageSizeTooBig", 429: "Throttled",
               500: "ServiceError", 502: "ServiceError", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def split_conversation(conversation_id: str) -> tuple[str, str | None]:
    """(channel id, root message id or None) of a channel's or a thread's conversation id."""
    channel, _, rest = conversation_id.partition(";")
    if not rest:
        return channel, None
    name, _, value = rest.partition("=")
    return channel, value if name.lower() == "messageid" and value else None


def activity_problem(activity: object) -> str | None:
    """What makes `activity` not a message the Connector accepts, or None."""
    if not isinstance(activity, dict) or activity.get("type") != "message":
        return "The activity type must be 'message'."
    attachments = activity.get("attachments", [])
    if not isinstance(attachments, list):
        return "attachments must be a list."
    if not activity.get("text") and not attachments:
        return "A message needs text or attachments."
    for item in attachments:
        if not isinstance(item, dict) or not isinstance(item.get("contentType"), str):
            return "Each attachment needs a contentType."
        card = item.get("content")
        if item["contentType"] == ADAPTIVE and (not isinstance(card, dict) or card.get("type") != "AdaptiveCard"
                                                or not isinstance(card.get("body"), list)):
            return f"An attachment of type {ADAPTIVE} must hold an AdaptiveCard with a body."
    return None


# -- throttling ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotLimits:
    """The documented throttles as (operations, seconds) windows. `second` is how many real seconds a documented
    second lasts here (1.0 as documented; a test sets it shorter so that windows pass within it). Any limit can be
    made smaller to stand for other traffic spending the same budget."""

    send: tuple[tuple[int, float], ...] = WINDOWS  # Send to conversation; Reply and Update spend it too (inferred)
    create: tuple[tuple[int, float], ...] = WINDOWS  # Create conversation
    app_per_second: int | None = 50  # the global limit per app per tenant
    second: float = 1.0
    per_reply_thread: bool = False  # key the per-thread budget on each reply thread, not on the channel

    def windows(self, budget: str) -> list[tuple[int, float]]:
        return [(count, seconds * self.second) for count, seconds in getattr(self, budget)]


DOCUMENTED = BotLimits()


@dataclass(frozen=True)
class Refusal:
    """A 429 the emulator answered: which budget ran out, where, and the Retry-After it sent."""

    op: str
    scope: str  # "thread" (per bot per thread) or "app" (global per app per tenant)
    key: str  # the channel (or reply thread) for "thread"; "" for "app"
    retry_after: str
    at: float


class RateLimiter:
    """Sliding windows per (budget, thread) and one for the app. take() spends one operation, or refuses the call
    (spending nothing) with the Retry-After until every window involved has room again."""

    TOLERANCE = 0.001  # seconds: a call this close to its Retry-After is on time

    def __init__(self, limits: BotLimits, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.clock = clock
        self.refusals: list[Refusal] = []
        self.early_retries = 0  # calls that came back to a refused budget before its Retry-After had passed
        self._stamps: dict[tuple[str, str], list[float]] = {}
        self._not_before: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def take(self, op: str, key: str) -> Refusal | None:
        budget = "create" if op == "create" else "send"
        checks = [(("thread", f"{budget} {key}"), self.limits.windows(budget))]
        if self.limits.app_per_second is not None:
            checks.append((("app", ""), [(self.limits.app_per_second, self.limits.second)]))
        with self._lock:
            now = self.clock()
            if any(now + self.TOLERANCE < self._not_before.get(ident, -math.inf) for ident, _ in checks):
                self.early_retries += 1
            waits = [(self._wait(ident, windows, now), ident) for ident, windows in checks]
            wait, (scope, _) = max(waits)
            if wait <= 0:
                for ident, _ in checks:
                    self._stamps.setdefault(ident, []).append(now)
                return None
            for ident_wait, ident in waits:  # each budget that ran out has room again after its own wait
                if ident_wait > 0:
                    self._not_before[ident] = max(self._not_before.get(ident, -math.inf), now + ident_wait)
            refusal = Refusal(op, scope, key if scope == "thread" else "", self.retry_after(wait), now)
            self.refusals.append(refusal)
            return refusal

    def retry_after(self, wait: float) -> str:
        """The Retry-After for a wait of `wait` real seconds: whole seconds, or milliseconds in scaled time."""
        if self.limits.second >= 1.0:
            return str(max(1, math.ceil(wait)))
        return f"{max(0.001, math.ceil(wait * 1000) / 1000):g}"

    def _wait(self, ident: tuple[str, str], windows: list[tuple[int, float]], now: float) -> float:
        stamps = self._stamps.get(ident, [])
        longest = max(seconds for _, seconds in windows)
        del stamps[:bisect.bisect_right(stamps, now - longest)]  # what no window sees any more
        wait = 0.0
        for count, seconds in windows:
            inside = len(stamps) - bisect.bisect_right(stamps, now - seconds)
            if inside >= count:  # room again once the count-th latest leaves the window
                wait = max(wait, stamps[len(stamps) - count] + seconds - now)
        return wait


# -- the inbound side: keys, tokens, activities -------------------------------------------------------------------


@dataclass
class PublishedKey:
    """A signing key of the Bot Connector, published with the channel ids it endorses."""

    key: SigningKey = field(default_factory=SigningKey)
    endorsements: tuple[str, ...] = (MSTEAMS,)

    @property
    def kid(self) -> str:
        return self.key.kid

    def jwk(self) -> dict:
        return {**self.key.jwk(), "x5t": self.kid, "endorsements": list(self.endorsements)}


class BotFrameworkKeys:
    """What the Connector signs activities with: published keys (the last one signs) and the JWTs it sends."""

    def __init__(self, app_id: str = APP_ID, service_url: str = "https://smba.trafficmanager.net/teams/"):
        self.app_id = app_id
        self.service_url = service_url
        self.published = [PublishedKey()]

    @property
    def signing(self) -> PublishedKey:
        return self.published[-1]

    def rotate(self, endorsements: tuple[str, ...] = (MSTEAMS,)) -> PublishedKey:
        self.published.append(PublishedKey(endorsements=endorsements))
        return self.signing

    def jwks(self) -> dict:
        return {"keys": [key.jwk() for key in self.published]}

    def openid_configuration(self, jwks_uri: str) -> dict:
        return {"issuer": ISSUER, "authorization_endpoint": "https://invalid.botframework.com", "jwks_uri": jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"]}

    def claims(self, activity: dict | None = None, **changes) -> dict:
        """The claims of the Connector's token for `activity`; a change of None leaves that claim out."""
        now = int(time.time())
        service_url = (activity or {}).get("serviceUrl", self.service_url)
        claims = {"iss": ISSUER, "aud": self.app_id, "nbf": now, "exp": now + 3600, "serviceurl": service_url}
        claims |= changes
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, activity: dict | None = None, *, key: PublishedKey | None = None, kid: str | None = None,
              **changes) -> str:
        """A JWT as the Connector sends it with `activity`, signed by `key` (the current signing key) under
        `kid` (the key's own)."""
        key = key or self.signing
        return jwt.encode(self.claims(activity, **changes), key.key.private, algorithm="RS256",
                          headers={"kid": kid or key.kid, "x5t": kid or key.kid})

    def expired_token(self, activity: dict | None = None, *, seconds_ago: int = 2 * CLOCK_SKEW) -> str:
        """Expired `seconds_ago` seconds ago: past the 5-minute clock skew by default."""
        now = int(time.time())
        return self.token(activity, nbf=now - 3600 - seconds_ago, exp=now - seconds_ago)

    def wrong_audience_token(self, activity: dict | None = None,
                             audience: str = "0b1e2d3c-4f5a-6b7c-8d9e-0f1a2b3c4d5e") -> str:
        return self.token(activity, aud=audience)

    def wrong_issuer_token(self, activity: dict | None = None,
                           issuer: str = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/") -> str:
        return self.token(activity, iss=issuer)

    def forged_token(self, activity: dict | None = None, *, known_kid: bool = True) -> str:
        """Signed by a key that was never published: under a published key's kid (so only the signature is wrong),
        or under a kid the keys document does not have."""
        stranger = PublishedKey()
        return self.token(activity, key=stranger, kid=self.signing.kid if known_kid else stranger.kid)

    def unendorsed_token(self, activity: dict | None = None) -> str:
        """Signed by a published key that does not endorse Teams (msteams): its endorsements are only webchat's."""
        key = next((k for k in self.published if MSTEAMS not in k.endorsements), None)
        if key is None:
            key = PublishedKey(endorsements=("webchat",))
            self.published.insert(0, key)  # published, but not the one that signs by default
        return self.token(activity, key=key)


@dataclass(frozen=True)
class TeamsUser:
    """A person in the team, as an activity's `from` names them."""

    id: str  # "29:…", the id on the Teams channel
    aad_object_id: str
    name: str

    def account(self) -> dict:
        return {"id": self.id, "aadObjectId": self.aad_object_id, "name": self.name}


USER = TeamsUser("29:1kMd0Q8fJ2rW9xYzA7bC3dE5fG1hI3jK5lM7nO9pQ1rS3tU5vW7xY9zA1bC3dE5fG7h",
                 "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "Aiko Tanaka")
OTHER_USER = TeamsUser("29:1zY9xW7vU5tS3rQ1pO9nM7lK5jI3hG1fE9dC7bA5zY3xW1vU9tS7rQ5pO3nM1lK9j",
                       "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "Ken Sato")


def invoke_activity(*, service_url: str, conversation_id: str, verb: str, data: dict | None = None,
                    user: TeamsUser = USER, reply_to: str | None = None, app_id: str = APP_ID, tenant: str = TENANT,
                    team: str = TEAM, locale: str = "ja-JP") -> dict:
    """The invoke activity Teams posts to the bot when `user` presses an Action.Execute button with `verb` and
    `data` on a card in a channel thread (`reply_to`: the card's message; the thread's root by default)."""
    channel, root = split_conversation(conversation_id)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": f"f:{uuid.uuid4()}",
        "timestamp": now,
        "localTimestamp": now,
        "channelId": MSTEAMS,
        "serviceUrl": service_url,
        "from": user.account(),
        "recipient": {"id": f"28:{app_id}", "name": BOT_NAME},
        "conversation": {"isGroup": True, "conversationType": "channel", "tenantId": tenant, "id": conversation_id},
        "channelData": {"team": {"id": team}, "channel": {"id": channel}, "tenant": {"id": tenant},
                        "source": {"name": "message"}},
        "replyToId": reply_to or root,
        "value": {"action": {"type": "Action.Execute", "verb": verb, "data": data or {}}, "trigger": "manual"},
        "locale": locale,
    }


# -- the outbound side: what the bot posted -----------------------------------------------------------------------


@dataclass
class Posted:
    """A message the bot posted: its id, and every version of its activity (the first as posted)."""

    id: str
    versions: list[dict]

    @property
    def activity(self) -> dict:
        """The message as it reads now."""
        return self.versions[-1]

    @property
    def updates(self) -> int:
        return len(self.versions) - 1


@dataclass
class Thread:
    """A thread in a channel: its root message and its replies, in order."""

    channel: str
    root: Posted
    replies: list[Posted] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Its conversation id: "19:…@thread.tacv2;messageid=<root id>"."""
        return f"{self.channel};messageid={self.root.id}"

    def find(self, activity_id: str) -> Posted | None:
        return next((p for p in [self.root, *self.replies] if p.id == activity_id), None)


class BotConnector(Sink):
    def __init__(self, *, tls: TestCA, app_id: str = APP_ID, tenant: str = TENANT, client_secret: str | None = None,
                 channels: tuple[str, ...] = (CHANNEL,), limits: BotLimits | None = DOCUMENTED,
                 token_lifetime: float = 3599.0):
        self.app_id, self.tenant = app_id, tenant
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.server = LoopbackServer(self._route, tls)
        self.url = self.server.url
        self.authority = self.url  # stands for https://login.microsoftonline.com
        self.token_url = f"{self.url}/{tenant}/oauth2/v2.0/token"
        self.service_url = f"{self.url}/teams/"
        self.openid_url = f"{self.url}/v1/.well-known/openidconfiguration"
        self.jwks_url = f"{self.url}/v1/.well-known/keys"
        self.identity_url = f"{self.url}/msi/token"
        self.identity_requests: list[dict[str, str]] = []  # the query of each call to the managed identity endpoint
        self.keys = BotFrameworkKeys(app_id, self.service_url)
        self.limiter = RateLimiter(limits) if limits is not None else None
        self.token_lifetime = token_lifetime
        self.token_requests: list[dict[str, str]] = []  # form fields without the secret, and the tenant asked
        self.operations: list[dict] = []  # accepted calls: {"op", "conversation", "activity_id", "activity"}
        self.unauthorized = 0  # 401s answered
        self.jwks_down = False  # the keys document answers 503 until set back
        self._channels = list(channels)
        self._removed: set[str] = set()
        self._threads: dict[str, list[Thread]] = {channel: [] for channel in channels}
        self._tokens: dict[str, float] = {}  # issued token → when it expires (time.monotonic)
        self._faults: dict[str, deque[Reply]] = {}
        self._lost: dict[str, deque[float | None]] = {}
        self._last_id = 0
        self._lock = threading.Lock()

    # -- what tests read

    def threads(self, channel: str = CHANNEL) -> list[Thread]:
        """The channel's threads, oldest first."""
        return list(self._threads.get(channel, []))

    def thread(self, conversation_id: str) -> Thread | None:
        channel, root = split_conversation(conversation_id)
        return next((t for t in self._threads.get(channel, []) if t.root.id == root), None)

    @property
    def throttled(self) -> int:
        return len(self.limiter.refusals) if self.limiter else 0

    @property
    def refusals(self) -> list[Refusal]:
        return list(self.limiter.refusals) if self.limiter else []

    @property
    def early_retries(self) -> int:
        return self.limiter.early_retries if self.limiter else 0

    # -- what tests change

    def fail_next(self, status: int = 503, *, op: str | None = None, times: int = 1, retry_after: float | None = None,
                  body: bytes | str | dict | None = None, delay: float = 0.0, drop: bool = False) -> None:
        """The next request (or, with `op`, the next call of that operation: one of OPS) fails this way, before any
        check or effect. The body is an ErrorResponse (for "token": Entra ID's error) unless given."""
        if op is not None and op not in OPS:
            raise ValueError(f"op must be one of {OPS}")
        if body is None:
            body = ({"error": "temporarily_unavailable"} if op == "token" else
                    {"error": {"code": FAULT_CODES.get(status, "ServiceError"), "message": "injected by the test"}})
        if op is None:
            self.server.fail_next(status, times=times, retry_after=retry_after, body=body, delay=delay, drop=drop)
            return
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self._lock:
            self._faults.setdefault(op, deque()).extend(
                Reply(status, body, headers, delay, drop) for _ in range(times))

    def lose_next_answer(self, op: str = "send", *, times: int = 1, late: float | None = None) -> None:
        """The next call of `op` (create, send, reply, update) takes effect, but its answer is lost: the connection
        drops without one or, with `late`, the answer comes that many seconds late (past a client's timeout)."""
        if op not in CONNECTOR_OPS:
            raise ValueError(f"op must be one of {CONNECTOR_OPS}")
        with self._lock:
            self._lost.setdefault(op, deque()).extend(late for _ in range(times))

    def uninstall(self, channel: str = CHANNEL) -> None:
        """The app is removed from the channel's team: calls there get 403 BotNotInConversationRoster."""
        self._removed.add(channel)

    def install(self, channel: str) -> None:
        self._removed.discard(channel)
        if channel not in self._threads:
            self._channels.append(channel)
            self._threads[channel] = []

    def expire_tokens(self) -> None:
        """Every token issued so far expires now."""
        with self._lock:
            now = time.monotonic()
            self._tokens = {token: min(expiry, now) for token, expiry in self._tokens.items()}

    def bearer(self) -> str:
        """A token as the token endpoint would issue it, without a request."""
        return self._issue()

    def identity_environ(self) -> dict[str, str]:
        """What App Service and Functions set for the managed identity endpoint."""
        return {"IDENTITY_ENDPOINT": self.identity_url, "IDENTITY_HEADER": IDENTITY_HEADER}

    # -- the inbound side

    def invoke(self, verb: str, data: dict | None = None, *, thread: Thread | str | None = None,
               message_id: str | None = None, user: TeamsUser = USER) -> dict:
        """An Action.Execute press by `user` on the card in `thread` (a Thread or a conversation id; by default the
        newest thread of the first channel), on message `message_id` (the thread's root by default)."""
        if thread is None:
            threads = self._threads[self._channels[0]]
            if not threads:
                raise ValueError("no thread to press a card in: pass thread=")
            thread = threads[-1]
        conversation_id = thread.id if isinstance(thread, Thread) else thread
        return invoke_activity(service_url=self.service_url, conversation_id=conversation_id, verb=verb, data=data,
                               user=user, reply_to=message_id, app_id=self.app_id, tenant=self.tenant)

    def headers(self, activity: dict, token: str | None = None) -> dict[str, str]:
        """The headers the Connector posts `activity` with: a valid token for it unless `token` is given."""
        return {"Authorization": f"Bearer {token or self.token(activity)}", "Content-Type": "application/json"}

    def token(self, activity: dict | None = None, **changes) -> str:
        return self.keys.token(activity, **changes)

    def expired_token(self, activity: dict | None = None, **kwargs) -> str:
        return self.keys.expired_token(activity, **kwargs)

    def wrong_audience_token(self, activity: dict | None = None, **kwargs) -> str:
        return self.keys.wrong_audience_token(activity, **kwargs)

    def wrong_issuer_token(self, activity: dict | None = None, **kwargs) -> str:
        return self.keys.wrong_issuer_token(activity, **kwargs)

    def forged_token(self, activity: dict | None = None, **kwargs) -> str:
        return self.keys.forged_token(activity, **kwargs)

    def unendorsed_token(self, activity: dict | None = None) -> str:
        return self.keys.unendorsed_token(activity)

    # -- serving

    def _route(self, request: Request) -> Reply:
        path = request.path
        if path == "/v1/.well-known/openidconfiguration":
            op, args = "openid", ()
        elif path == "/v1/.well-known/keys":
            op, args = "keys", ()
        elif path.endswith("/oauth2/v2.0/token"):
            op, args = "token", ()
        elif path == f"/{self.tenant}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            return self._tenant_configuration()
        elif path == "/msi/token" and request.method == "GET":
            return self._identity_token(request)
        elif path == "/teams/v3/conversations" or path.startswith("/teams/v3/conversations/"):
            found = self._connector_op(request)
            if isinstance(found, Reply):
                return found
            op, args = found
        else:
            return _error(404, "NotFound", f"No route for {path}")
        with self._lock:
            faults = self._faults.get(op)
            if faults:
                return faults.popleft()
        if op == "openid":
            return Reply(200, self.keys.openid_configuration(self.jwks_url))
        if op == "keys":
            return Reply(503, {"error": "temporarily unavailable"}) if self.jwks_down else Reply(200, self.keys.jwks())
        if op == "token":
            return self._token(request)
        return self._connector(op, request, *args)

    @staticmethod
    def _connector_op(request: Request) -> tuple[str, tuple] | Reply:
        """The operation a Connector path and method ask for, with its (conversation id, activity id), or the
        answer for a path or method the Connector does not have."""
        rest = request.path.removeprefix("/teams/v3/conversations")
        segments = [unquote(segment) for segment in rest.split("/")[1:]]
        routes = {0: {"POST": "create"}, 2: {"POST": "send"}, 3: {"POST": "reply", "PUT": "update"}}
        shape_ok = len(segments) in routes and all(segments) and (len(segments) < 2 or segments[1] == "activities")
        if not shape_ok:
            return _error(404, "NotFound", f"No route for {request.path}")
        op = routes[len(segments)].get(request.method)
        if op is None:
            return _error(405, "MethodNotAllowed", f"{request.method} is not allowed here")
        conversation = segments[0] if segments else ""
        return op, (conversation, segments[2] if len(segments) == 3 else None)

    def _token(self, request: Request) -> Reply:
        tenant = request.path.removesuffix("/oauth2/v2.0/token").strip("/")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        self.token_requests.append({"tenant": tenant, **{k: v for k, v in form.items() if k != "client_secret"}})
        client_id = form.get("client_id", "")
        if request.method != "POST":
            return _entra_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
        if tenant == MULTI_TENANT:  # a single-tenant bot asking the multi-tenant authority
            return _entra_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was "
                                "not found in the directory 'Bot Framework'.")
        if tenant != self.tenant:
            return _entra_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if client_id != self.app_id:
            return _entra_error(400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was "
                                "not found in the directory.")
        if form.get("scope") != SCOPE:
            return _entra_error(400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is "
                                f"not valid. The bot's scope is {SCOPE}.")
        if not secrets.compare_digest(form.get("client_secret", ""), self.client_secret):
            return _entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        lifetime = math.ceil(self.token_lifetime)
        return Reply(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                           "access_token": self._issue()})

    def _tenant_configuration(self) -> Reply:
        base = f"{self.url}/{self.tenant}"
        return Reply(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                           "token_endpoint": self.token_url, "jwks_uri": f"{base}/discovery/v2.0/keys"})

    def _identity_token(self, request: Request) -> Reply:
        asked = {name: values[-1] for name, values in request.query.items()}
        self.identity_requests.append(asked)
        if request.headers.get("x-identity-header") != IDENTITY_HEADER:
            return Reply(401, {"error": "unauthorized", "error_description": "bad identity header"})
        if asked.get("resource") != BOT_RESOURCE or asked.get("client_id") != self.app_id:
            return Reply(400, {"error": "invalid_request", "error_description": "no such identity or resource"})
        return Reply(200, {"access_token": self.bearer(), "expires_on": str(int(time.time()) + 3600),
                           "resource": BOT_RESOURCE, "token_type": "Bearer"})

    def _issue(self) -> str:
        token = f"bf.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        return token

    def _authorized(self, request: Request) -> bool:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self._tokens.get(authorization.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry

    def _connector(self, op: str, request: Request, conversation: str, activity_id: str | None) -> Reply:
        if not self._authorized(request):
            self.unauthorized += 1
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")
        try:
            data = request.json()
        except ValueError:
            return _error(400, "BadSyntax", "The request body is not JSON.")
        if not isinstance(data, dict):
            return _error(400, "BadSyntax", "The request body must be a JSON object.")
        if op == "create":
            channel_data = data.get("channelData") if isinstance(data.get("channelData"), dict) else {}
            channel = str((channel_data.get("channel") or {}).get("id") or "")
            key = channel
        else:
            channel, _ = split_conversation(conversation)
            key = conversation if self.limiter and self.limiter.limits.per_reply_thread else channel
        if self.limiter is not None:
            refusal = self.limiter.take(op, key)
            if refusal is not None:
                return _error(429, "Throttled", "Too many requests.", {"Retry-After": refusal.retry_after})
        if len(request.body) > MAX_ACTIVITY_BYTES:
            return _error(413, "MessageSizeTooBig", "Message size too large.")
        with self._lock:
            if op == "create":
                reply = self._create(data)
            else:
                reply = self._post(op, conversation, activity_id, data)
            lost = self._lost.get(op)
            if reply.status >= 300 or not lost:
                return reply
            late = lost.popleft()
        return replace(reply, drop=True) if late is None else replace(reply, delay=late)

    def _next_id(self) -> str:
        """A message id: epoch milliseconds, as Teams' are, and never the same twice."""
        self._last_id = max(self._last_id + 1, int(time.time() * 1000))
        return str(self._last_id)

    def _channel_problem(self, channel: str) -> Reply | None:
        if channel in self._removed:
            return _error(403, "BotNotInConversationRoster", "The bot isn't part of the conversation roster.")
        if channel not in self._threads:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        return None

    def _record(self, op: str, conversation: str, activity_id: str, activity: dict) -> None:
        self.operations.append({"op": op, "conversation": conversation, "activity_id": activity_id,
                                "activity": activity})

    def _create(self, data: dict) -> Reply:
        channel_data = data.get("channelData") if isinstance(data.get("channelData"), dict) else {}
        channel = (channel_data.get("channel") or {}).get("id")
        tenant = data.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        activity = data.get("activity")
        if data.get("isGroup") is not True or not channel or not isinstance(activity, dict) or tenant != self.tenant:
            return _error(400, "BadSyntax", "Incorrect conversation creation parameters")
        problem = activity_problem(activity) or self._channel_problem(channel)
        if isinstance(problem, Reply):
            return problem
        if problem:
            return _error(400, "BadArgument", problem)
        thread = Thread(channel, Posted(self._next_id(), [activity]))
        self._threads[channel].append(thread)
        self._record("create", thread.id, thread.root.id, activity)
        return Reply(201, {"id": thread.id, "activityId": thread.root.id})

    def _post(self, op: str, conversation: str, activity_id: str | None, activity: dict) -> Reply:
        """Send, Reply and Update, in a channel or one of its threads."""
        channel, root = split_conversation(conversation)
        problem = self._channel_problem(channel)
        if problem is not None:
            return problem
        problem_text = activity_problem(activity)
        if problem_text:
            return _error(400, "BadArgument", problem_text)
        threads = self._threads[channel]
        if root is not None:
            threads = [t for t in threads if t.root.id == root]
            if not threads:
                return _error(404, "ConversationNotFound", "Conversation not found.")
        if op == "send" and root is None:  # a top-level post: a new thread
            thread = Thread(channel, Posted(self._next_id(), [activity]))
            self._threads[channel].append(thread)
            self._record(op, conversation, thread.root.id, activity)
            return Reply(201, {"id": thread.root.id})
        if op == "send":
            thread, target = threads[0], None
        else:
            thread, target = next(((t, p) for t in threads if (p := t.find(str(activity_id))) is not None),
                                  (None, None))
            if target is None:
                return _error(404, "ActivityNotFoundInConversation", "Conversation not found.")
        if op == "update":
            target.versions.append(activity)
            self._record(op, conversation, target.id, activity)
            return Reply(200, {"id": target.id})
        posted = Posted(self._next_id(), [activity])
        thread.replies.append(posted)
        self._record(op, conversation, posted.id, activity)
        return Reply(201, {"id": posted.id})
