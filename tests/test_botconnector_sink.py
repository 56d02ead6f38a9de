"""The loopback Bot Connector (tests/sinks/botconnector.py) behaves as documented: client credentials for the Bot
Framework scope, threads in a channel with their first message updated in place and replies in order, 401 without
a valid token, the documented 404s, 429 with Retry-After at the documented rates (and in scaled time), faults on
command; and on the inbound side, tokens that verify with the served keys exactly when the documented checks pass."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import jwt
import pytest

from tests.sinks.botconnector import (
    ADAPTIVE,
    APP_ID,
    CHANNEL,
    CLOCK_SKEW,
    ISSUER,
    MSTEAMS,
    OTHER_CHANNEL,
    OTHER_USER,
    SCOPE,
    TENANT,
    BotConnector,
    BotFrameworkKeys,
    BotLimits,
    RateLimiter,
    activity_problem,
    invoke_activity,
    split_conversation,
)

THREAD_ID = re.compile(r"19:[0-9a-f]{32}@thread\.tacv2;messageid=(\d{13,})")


# -- helpers


def card(title: str) -> dict:
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": {
        "type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": title}]}}]}


def call(ca, method: str, url: str, body: object = None, *, token: str | None = None, form: dict | None = None,
         timeout: float = 5.0) -> tuple[int, dict[str, str], object]:
    """(status, headers, JSON body or None) of one HTTPS request."""
    headers, data = {}, None
    if form is not None:
        data, headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"
    elif body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, context=ca.client_context(), timeout=timeout) as response:
            status, answer_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, dict(error.headers), error.read()
    return status, answer_headers, json.loads(raw) if raw else None


def conversations(bc: BotConnector, conversation: str | None = None, activity_id: str | None = None) -> str:
    url = f"{bc.service_url}v3/conversations"
    if conversation is not None:
        url += f"/{quote(conversation, safe='')}/activities"
    if activity_id is not None:
        url += f"/{quote(activity_id, safe='')}"
    return url


def new_thread(bc: BotConnector, ca, token: str | None, channel: str = CHANNEL, **changes) -> tuple[int, object]:
    """Create Conversation: a new thread in `channel` (a change of None leaves that parameter out)."""
    body = {"isGroup": True, "bot": {"id": f"28:{APP_ID}"}, "tenantId": TENANT,
            "channelData": {"channel": {"id": channel}, "tenant": {"id": TENANT}},
            "activity": card("planned maintenance")} | changes
    status, _, answer = call(ca, "POST", conversations(bc), {k: v for k, v in body.items() if v is not None},
                             token=token)
    return status, answer


def credentials(bc: BotConnector, **changes: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": bc.app_id, "client_secret": bc.client_secret,
            "scope": SCOPE} | changes
    return {k: v for k, v in form.items() if v is not None}


def verify(keys: dict, token: str, activity: dict, *, app_id: str = APP_ID) -> dict:
    """The documented checks a bot makes of the Connector's token: a listed key that endorses the activity's channel,
    RS256, issuer, audience, validity within 5 minutes' clock skew, and the serviceurl claim."""
    kid = jwt.get_unverified_header(token)["kid"]
    found = next((key for key in keys["keys"] if key["kid"] == kid), None)
    if found is None:
        raise jwt.InvalidKeyError(f"no published key {kid}")
    if activity["channelId"] not in found["endorsements"]:
        raise jwt.InvalidTokenError(f"the key does not endorse {activity['channelId']}")
    claims = jwt.decode(token, jwt.PyJWK(found).key, algorithms=["RS256"], audience=app_id, issuer=ISSUER,
                        leeway=CLOCK_SKEW, options={"require": ["exp", "nbf", "iss", "aud"]})
    if claims.get("serviceurl") != activity["serviceUrl"]:
        raise jwt.InvalidTokenError("the serviceurl claim is not the activity's serviceUrl")
    return claims


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bc(ca):
    with BotConnector(tls=ca, channels=(CHANNEL, OTHER_CHANNEL)) as bc:
        yield bc


@pytest.fixture
def token(bc, ca):
    status, _, answer = call(ca, "POST", bc.token_url, form=credentials(bc))
    assert status == 200
    return answer["access_token"]


# -- the documented throttles (a test clock)


def spend(limiter: RateLimiter, n: int, op: str = "send", key: str = CHANNEL) -> list:
    return [limiter.take(op, key) for _ in range(n)]


def test_send_allows_seven_a_second_then_eight_in_two_seconds():
    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    assert spend(limiter, 7) == [None] * 7
    refused = limiter.take("send", CHANNEL)
    assert (refused.scope, refused.key, refused.retry_after) == ("thread", CHANNEL, "1")
    clock.now += 1.0
    assert limiter.take("send", CHANNEL) is None  # the eighth in two seconds
    refused = limiter.take("send", CHANNEL)  # the ninth: 8 in 2 s binds until the first leaves, 1 s from now
    assert refused.retry_after == "1" and len(limiter.refusals) == 2


def test_send_allows_sixty_in_thirty_seconds_and_1800_in_an_hour():
    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    for _ in range(60):  # one every 0.375 s keeps within 7 a second and 8 in two
        assert limiter.take("send", CHANNEL) is None
        clock.now += 0.375
    refused = limiter.take("send", CHANNEL)  # at 22.5 s: 60 in 30 s until the first leaves, 7.5 s from now
    assert refused is not None and refused.retry_after == "8"

    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    for _ in range(1800):  # one every 0.5 s keeps within 60 in 30 s (59 before each)
        assert limiter.take("send", CHANNEL) is None
        clock.now += 0.5
    assert clock.now - 1000.0 == 900.0
    refused = limiter.take("send", CHANNEL)
    assert refused is not None and int(refused.retry_after) == 2700  # until the first leaves the hour


def test_create_has_its_own_budget_and_each_channel_its_own():
    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    spend(limiter, 7)
    assert limiter.take("send", CHANNEL) is not None
    assert limiter.take("create", CHANNEL) is None
    assert limiter.take("reply", OTHER_CHANNEL) is None
    assert limiter.take("update", CHANNEL) is not None  # reply and update spend the send budget


def test_the_app_is_held_to_fifty_calls_a_second_across_channels():
    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    channels = [f"19:{n:032x}@thread.tacv2" for n in range(10)]
    passed = [limiter.take("send", channels[n % 10]) is None for n in range(51)]
    assert passed == [True] * 50 + [False]
    assert limiter.refusals[-1].scope == "app" and limiter.refusals[-1].key == ""
    assert RateLimiter(BotLimits(app_per_second=None), clock).take("send", "x") is None


def test_a_refused_call_spends_nothing_and_an_early_retry_is_counted():
    clock = Clock()
    limiter = RateLimiter(BotLimits(), clock)
    spend(limiter, 7)
    spend(limiter, 3)  # refused, and each one before the Retry-After of the one before
    assert len(limiter.refusals) == 3 and limiter.early_retries == 2
    clock.now += 1.0
    assert limiter.take("send", CHANNEL) is None and limiter.early_retries == 2


def test_time_can_be_scaled_and_retry_after_then_has_milliseconds():
    clock = Clock()
    limiter = RateLimiter(BotLimits(second=0.01), clock)
    spend(limiter, 7)
    clock.now += 0.004
    refused = limiter.take("send", CHANNEL)
    assert float(refused.retry_after) == pytest.approx(0.006, abs=0.001) and "." in refused.retry_after
    clock.now += float(refused.retry_after)
    assert limiter.take("send", CHANNEL) is None and limiter.early_retries == 0


def test_the_per_thread_budget_can_be_the_reply_thread():
    assert BotLimits().per_reply_thread is False  # a "conversation" is "a channel in a team"
    limits = BotLimits(send=((1, 1.0),), per_reply_thread=True)
    assert limits.windows("send") == [(1, 1.0)] and limits.windows("create")[0] == (7, 1.0)


# -- the inbound side without a server


def test_an_invoke_is_an_action_execute_press_in_the_thread():
    thread = f"{CHANNEL};messageid=1767225600000"
    activity = invoke_activity(service_url="https://smba.example/teams/", conversation_id=thread, verb="ack",
                               data={"notice": "n-1"}, user=OTHER_USER)
    assert (activity["type"], activity["name"], activity["channelId"]) == ("invoke", "adaptiveCard/action", MSTEAMS)
    assert activity["value"]["action"] == {"type": "Action.Execute", "verb": "ack", "data": {"notice": "n-1"}}
    assert activity["from"] == {"id": OTHER_USER.id, "aadObjectId": OTHER_USER.aad_object_id, "name": "Ken Sato"}
    assert activity["conversation"] == {"isGroup": True, "conversationType": "channel", "tenantId": TENANT,
                                        "id": thread}
    assert activity["channelData"]["channel"] == {"id": CHANNEL}
    assert activity["serviceUrl"] == "https://smba.example/teams/" and activity["replyToId"] == "1767225600000"
    assert activity["recipient"]["id"] == f"28:{APP_ID}"


def test_minted_tokens_pass_the_documented_checks_only_when_they_should():
    keys = BotFrameworkKeys(service_url="https://smba.example/teams/")
    activity = invoke_activity(service_url=keys.service_url, conversation_id=f"{CHANNEL};messageid=1", verb="ack")
    published = keys.jwks()
    claims = verify(published, keys.token(activity), activity)
    assert (claims["iss"], claims["aud"], claims["serviceurl"]) == (ISSUER, APP_ID, keys.service_url)
    assert published["keys"][0]["endorsements"] == [MSTEAMS]
    verify(published, keys.expired_token(activity, seconds_ago=CLOCK_SKEW - 60), activity)  # within the skew
    refused = {
        "expired": (keys.expired_token(activity), jwt.ExpiredSignatureError),
        "audience": (keys.wrong_audience_token(activity), jwt.InvalidAudienceError),
        "issuer": (keys.wrong_issuer_token(activity), jwt.InvalidIssuerError),
        "forged": (keys.forged_token(activity), jwt.InvalidSignatureError),
        "unknown key": (keys.forged_token(activity, known_kid=False), jwt.InvalidKeyError),
        "no serviceurl": (keys.token(activity, serviceurl=None), jwt.InvalidTokenError),
        "other serviceurl": (keys.token(activity, serviceurl="https://evil.example/"), jwt.InvalidTokenError),
    }
    for name, (token, error) in refused.items():
        with pytest.raises(error):
            verify(keys.jwks(), token, activity)
            pytest.fail(name)
    unendorsed = keys.unendorsed_token(activity)  # publishes a key that endorses webchat only
    with pytest.raises(jwt.InvalidTokenError, match="endorse"):
        verify(keys.jwks(), unendorsed, activity)
    verify(keys.jwks(), keys.token(activity), activity)  # the unendorsed key does not sign by default


def test_after_a_rotation_the_new_key_signs_and_the_old_one_stays_published():
    keys = BotFrameworkKeys()
    activity = invoke_activity(service_url=keys.service_url, conversation_id=CHANNEL, verb="ack")
    old = keys.token(activity)
    new_key = keys.rotate()
    assert jwt.get_unverified_header(keys.token(activity))["kid"] == new_key.kid
    verify(keys.jwks(), old, activity)
    verify(keys.jwks(), keys.token(activity), activity)


def test_conversation_ids_and_activities():
    assert split_conversation(f"{CHANNEL};messageid=1767225600000") == (CHANNEL, "1767225600000")
    assert split_conversation(CHANNEL) == (CHANNEL, None)
    assert activity_problem(card("x")) is None
    assert activity_problem({"type": "message", "text": "hello"}) is None
    assert activity_problem({"type": "typing"}) is not None
    assert activity_problem({"type": "message"}) is not None
    assert activity_problem({"type": "message", "attachments": [{"contentType": ADAPTIVE, "content": {}}]})


# -- the token endpoint


def test_client_credentials_give_a_bearer_token_for_the_bot_framework_scope(bc, ca):
    status, _, answer = call(ca, "POST", bc.token_url, form=credentials(bc))
    assert status == 200
    assert (answer["token_type"], answer["expires_in"], answer["ext_expires_in"]) == ("Bearer", 3599, 3599)
    assert bc.token_requests == [{"tenant": TENANT, "grant_type": "client_credentials", "client_id": APP_ID,
                                  "scope": SCOPE}]  # never the secret
    assert new_thread(bc, ca, answer["access_token"])[0] == 201


@pytest.mark.parametrize(("where", "changes", "status", "error", "code"), [
    ("tenant", {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ("tenant", {"client_id": "00000000-0000-0000-0000-000000000000"}, 400, "unauthorized_client", 700016),
    ("tenant", {"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope", 70011),
    ("tenant", {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ("botframework.com", {}, 400, "unauthorized_client", 700016),  # a single-tenant bot at the multi-tenant authority
    ("99999999-8888-7777-6666-555555555555", {}, 400, "invalid_request", 90002),
])
def test_wrong_credentials_are_refused_as_entra_id_does(bc, ca, where, changes, status, error, code):
    url = bc.token_url if where == "tenant" else f"{bc.authority}/{where}/oauth2/v2.0/token"
    got, _, answer = call(ca, "POST", url, form=credentials(bc, **changes))
    assert (got, answer["error"], answer["error_codes"]) == (status, error, [code])
    assert answer["error_description"].startswith(f"AADSTS{code}:")


# -- threads, updates, replies


def test_one_thread_one_first_card_updated_n_times_one_reply_per_notice(bc, ca, token):
    status, created = new_thread(bc, ca, token, activity=card("planned maintenance: 3 VMs"))
    assert status == 201 and set(created) == {"id", "activityId"}  # no serviceUrl: the live answer has none
    assert THREAD_ID.fullmatch(created["id"]).group(1) == created["activityId"]
    thread_id, root_id = created["id"], created["activityId"]
    for n in (1, 2, 3):
        status, _, answer = call(ca, "PUT", conversations(bc, thread_id, root_id), card(f"version {n + 1}"),
                                 token=token)
        assert (status, answer) == (200, {"id": root_id})
    replies = [call(ca, "POST", conversations(bc, thread_id), {"type": "message", "text": "rescheduled"},
                    token=token),
               call(ca, "POST", conversations(bc, thread_id, root_id), {"type": "message", "text": "started"},
                    token=token),
               call(ca, "POST", conversations(bc, CHANNEL, root_id), {"type": "message", "text": "completed"},
                    token=token)]
    assert [status for status, _, _ in replies] == [201, 201, 201]

    [thread] = bc.threads(CHANNEL)
    assert thread.id == thread_id and bc.thread(thread_id) is thread
    assert thread.root.id == root_id and thread.root.updates == 3
    assert [v["attachments"][0]["content"]["body"][0]["text"] for v in thread.root.versions] == [
        "planned maintenance: 3 VMs", "version 2", "version 3", "version 4"]
    assert thread.root.activity is thread.root.versions[-1]
    assert [r.activity["text"] for r in thread.replies] == ["rescheduled", "started", "completed"]
    assert [r.id for r in thread.replies] == [answer["id"] for _, _, answer in replies]
    assert len({root_id, *(r.id for r in thread.replies)}) == 4 and bc.threads(OTHER_CHANNEL) == []
    assert [op["op"] for op in bc.operations] == ["create", "update", "update", "update", "send", "reply", "reply"]


def test_sending_to_the_channel_itself_starts_a_new_thread(bc, ca, token):
    status, _, answer = call(ca, "POST", conversations(bc, CHANNEL), card("a top-level post"), token=token)
    assert status == 201
    [thread] = bc.threads(CHANNEL)
    assert thread.root.id == answer["id"] and thread.replies == []
    status, _, reply = call(ca, "PUT", conversations(bc, CHANNEL, answer["id"]), card("edited"), token=token)
    assert (status, thread.root.updates) == (200, 1)


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"activity": None}, 400, "BadSyntax"),  # a thread needs its first message
    ({"isGroup": False}, 400, "BadSyntax"),
    ({"tenantId": None, "channelData": {"channel": {"id": CHANNEL}}}, 400, "BadSyntax"),
    ({"tenantId": "99999999-8888-7777-6666-555555555555"}, 400, "BadSyntax"),
    ({"activity": {"type": "message"}}, 400, "BadArgument"),
    ({"channelData": {"channel": {"id": "19:feedfacefeedfacefeedfacefeedface@thread.tacv2"}}}, 404,
     "ConversationNotFound"),
])
def test_creation_parameters_teams_refuses(bc, ca, token, changes, status, code):
    got, answer = new_thread(bc, ca, token, **changes)
    assert (got, answer["error"]["code"]) == (status, code)
    assert bc.threads(CHANNEL) == [] and bc.operations == []


def test_unknown_ids_get_the_documented_404s(bc, ca, token):
    _, created = new_thread(bc, ca, token)
    text = {"type": "message", "text": "x"}
    missing_thread = f"{CHANNEL};messageid=1000000000000"
    cases = [("PUT", conversations(bc, created["id"], "1000000000000"), "ActivityNotFoundInConversation"),
             ("POST", conversations(bc, created["id"], "1000000000000"), "ActivityNotFoundInConversation"),
             ("PUT", conversations(bc, CHANNEL, "1000000000000"), "ActivityNotFoundInConversation"),
             ("POST", conversations(bc, missing_thread), "ConversationNotFound"),
             ("PUT", conversations(bc, missing_thread, created["activityId"]), "ConversationNotFound")]
    for method, url, code in cases:
        status, _, answer = call(ca, method, url, text, token=token)
        assert (status, answer["error"]["code"]) == (404, code), url
    assert answer["error"]["message"] == "Conversation not found."
    assert bc.threads(CHANNEL)[0].replies == [] and bc.threads(CHANNEL)[0].root.updates == 0


def test_calls_without_a_valid_token_get_401(ca):
    with BotConnector(tls=ca, token_lifetime=0.3) as bc:
        status, _, answer = call(ca, "POST", bc.token_url, form=credentials(bc))
        assert answer["expires_in"] == 1
        good = answer["access_token"]
        assert new_thread(bc, ca, None)[0] == 401
        assert new_thread(bc, ca, "not-a-token-it-issued")[0] == 401
        time.sleep(0.4)
        status, answer = new_thread(bc, ca, good)
        assert (status, answer["error"]["code"]) == (401, "Unauthorized")
        bc.token_lifetime = 60.0
        fresh = bc.bearer()
        assert new_thread(bc, ca, fresh)[0] == 201
        bc.expire_tokens()
        assert new_thread(bc, ca, fresh)[0] == 401
        assert bc.unauthorized == 4 and len(bc.threads(CHANNEL)) == 1


def test_an_uninstalled_channel_and_an_oversized_message_are_refused(bc, ca, token):
    _, created = new_thread(bc, ca, token)
    big = {"type": "message", "text": "x" * (28 * 1024)}
    status, _, answer = call(ca, "POST", conversations(bc, created["id"]), big, token=token)
    assert (status, answer["error"]["code"]) == (413, "MessageSizeTooBig")
    bc.uninstall(CHANNEL)
    status, _, answer = call(ca, "POST", conversations(bc, created["id"]), {"type": "message", "text": "x"},
                             token=token)
    assert (status, answer["error"]["code"]) == (403, "BotNotInConversationRoster")
    assert new_thread(bc, ca, token, channel=OTHER_CHANNEL)[0] == 201


# -- throttling on the wire


def test_sends_to_a_channel_get_429_with_retry_after_past_seven_a_second(bc, ca, token):
    statuses = [call(ca, "POST", conversations(bc, CHANNEL), {"type": "message", "text": f"{n}"}, token=token)
                for n in range(8)]
    assert [status for status, _, _ in statuses] == [201] * 7 + [429]
    _, headers, answer = statuses[-1]
    assert headers["Retry-After"] == "1" and answer["error"]["code"] == "Throttled"
    assert (bc.throttled, bc.refusals[0].scope, bc.refusals[0].key) == (1, "thread", CHANNEL)
    assert new_thread(bc, ca, token)[0] == 201  # create has its own budget
    assert new_thread(bc, ca, token, channel=OTHER_CHANNEL)[0] == 201  # and each channel its own
    time.sleep(float(headers["Retry-After"]))
    assert call(ca, "POST", conversations(bc, CHANNEL), {"type": "message", "text": "later"}, token=token)[0] == 201
    assert bc.early_retries == 0 and len(bc.threads(CHANNEL)) == 9


def test_scaled_time_and_the_global_limit_on_the_wire(ca):
    limits = BotLimits(send=((1, 1.0),), app_per_second=3, second=0.5)
    with BotConnector(tls=ca, channels=(CHANNEL, OTHER_CHANNEL), limits=limits) as bc:
        token = bc.bearer()
        text = {"type": "message", "text": "x"}
        assert call(ca, "POST", conversations(bc, CHANNEL), text, token=token)[0] == 201
        status, headers, _ = call(ca, "POST", conversations(bc, CHANNEL), text, token=token)
        assert status == 429 and 0 < float(headers["Retry-After"]) <= 0.5 and "." in headers["Retry-After"]
        assert call(ca, "POST", conversations(bc, CHANNEL), text, token=token)[0] == 429
        assert bc.early_retries == 1
        time.sleep(float(headers["Retry-After"]))
        assert call(ca, "POST", conversations(bc, CHANNEL), text, token=token)[0] == 201
        assert call(ca, "POST", conversations(bc, OTHER_CHANNEL), text, token=token)[0] == 201
        assert new_thread(bc, ca, token)[0] == 201
        status, answer = new_thread(bc, ca, token, channel=OTHER_CHANNEL)  # the fourth call in half a second
        assert status == 429 and bc.refusals[-1].scope == "app"


def test_without_limits_nothing_is_throttled(ca):
    with BotConnector(tls=ca, limits=None) as bc:
        token = bc.bearer()
        statuses = [call(ca, "POST", conversations(bc, CHANNEL), {"type": "message", "text": "x"}, token=token)[0]
                    for _ in range(12)]
        assert statuses == [201] * 12 and bc.throttled == 0


# -- faults


def test_a_fault_for_one_operation_leaves_the_others_alone(bc, ca, token):
    bc.fail_next(503, op="send")
    bc.fail_next(429, op="update", retry_after=2)
    _, created = new_thread(bc, ca, token)
    text = {"type": "message", "text": "x"}
    status, _, answer = call(ca, "POST", conversations(bc, created["id"]), text, token=token)
    assert (status, answer["error"]["code"]) == (503, "ServiceUnavailable")
    assert call(ca, "POST", conversations(bc, created["id"]), text, token=token)[0] == 201
    status, headers, answer = call(ca, "PUT", conversations(bc, created["id"], created["activityId"]), card("v2"),
                                   token=token)
    assert (status, headers["Retry-After"], answer["error"]["code"]) == (429, "2", "Throttled")
    assert bc.throttled == 0  # an injected 429 is not the emulator's own
    bc.fail_next(503, op="token")
    status, _, answer = call(ca, "POST", bc.token_url, form=credentials(bc))
    assert (status, answer["error"]) == (503, "temporarily_unavailable")
    with pytest.raises(ValueError):
        bc.fail_next(op="delete")


def test_a_lost_answer_still_posts_the_message(bc, ca, token):
    _, created = new_thread(bc, ca, token)
    bc.lose_next_answer("send")
    with pytest.raises(OSError):
        call(ca, "POST", conversations(bc, created["id"]), {"type": "message", "text": "dropped"}, token=token)
    bc.lose_next_answer("update", late=1.0)
    with pytest.raises(OSError):  # the answer comes after the client gave up
        call(ca, "PUT", conversations(bc, created["id"], created["activityId"]), card("late"), token=token,
             timeout=0.3)
    [thread] = bc.threads(CHANNEL)
    assert [r.activity["text"] for r in thread.replies] == ["dropped"] and thread.root.updates == 1


# -- the inbound side on the wire


def test_the_openid_metadata_and_keys_are_served_and_verify_minted_tokens(bc, ca, token):
    _, created = new_thread(bc, ca, token)
    status, _, metadata = call(ca, "GET", bc.openid_url)
    assert status == 200 and metadata["issuer"] == ISSUER == "https://api.botframework.com"
    assert metadata["jwks_uri"] == bc.jwks_url and metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    activity = bc.invoke("ack", {"notice": "n-1"}, thread=bc.threads(CHANNEL)[0])
    assert activity["conversation"]["id"] == created["id"] and activity["replyToId"] == created["activityId"]
    assert activity["serviceUrl"] == bc.service_url and bc.invoke("ack")["conversation"]["id"] == created["id"]
    assert bc.headers(activity)["Authorization"].startswith("Bearer ey")

    served = jwt.PyJWKClient(bc.jwks_url, ssl_context=ca.client_context(), cache_jwk_set=False)
    _, _, keys = call(ca, "GET", bc.jwks_url)
    assert [key["endorsements"] for key in keys["keys"]] == [[MSTEAMS]]
    valid = bc.token(activity)
    assert verify(keys, valid, activity)["serviceurl"] == bc.service_url
    assert jwt.decode(valid, served.get_signing_key_from_jwt(valid).key, algorithms=["RS256"], audience=APP_ID,
                      issuer=ISSUER)["aud"] == APP_ID
    for bad in (bc.expired_token(activity), bc.wrong_audience_token(activity), bc.wrong_issuer_token(activity),
                bc.forged_token(activity)):
        with pytest.raises(jwt.InvalidTokenError):
            verify(keys, bad, activity)
    with pytest.raises(jwt.PyJWKClientError):
        served.get_signing_key_from_jwt(bc.forged_token(activity, known_kid=False))

    bc.keys.rotate()
    _, _, keys = call(ca, "GET", bc.jwks_url)
    assert len(keys["keys"]) == 2 and verify(keys, bc.token(activity), activity)
    bc.jwks_down = True
    assert call(ca, "GET", bc.jwks_url)[0] == 503
    bc.fail_next(500, op="openid")
    assert call(ca, "GET", bc.openid_url)[0] == 500
