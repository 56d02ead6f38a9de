import pytest

from relay.config import ConfigError, default_config, load_config, parse_config
from relay.model import EventKind


def test_default_is_one_outbox_receiver_per_channel():
    receivers = [r.receiver for r in default_config().routes]
    assert [(r.name, r.channel, r.transport, r.language) for r in receivers] == [
        ("teams", "teams", "outbox", "both"), ("slack", "slack", "outbox", "both"), ("email", "email", "outbox", "both")]


def test_full_config(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text(
        "outbox: out\ninventory: inv.json\nledger: state/l.sqlite\nreceivers:\n"
        "  - {name: oncall, channel: outbox, format: slack, language: ja, kinds: [maintenance]}\n"
        "  - {name: managers, channel: email, destination: RELAY_SMTP_URL, to: [a@example.com, b@example.com],"
        " from: relay@example.com}\n", encoding="utf-8")
    config = load_config(path)
    oncall, managers = config.routes
    assert (oncall.receiver.channel, oncall.receiver.transport, oncall.receiver.language) == ("slack", "outbox", "ja")
    assert oncall.kinds == {EventKind.MAINTENANCE}
    assert managers.receiver.destination_env == "RELAY_SMTP_URL"
    assert managers.receiver.options == {"to": "a@example.com, b@example.com", "from": "relay@example.com"}
    assert config.outbox == tmp_path / "out" and config.inventory == tmp_path / "inv.json"


@pytest.mark.parametrize("receivers, expected", [
    ([{"channel": "teams"}], "receivers[0].name: required"),
    ([{"name": "a", "channel": "fax"}], "receivers[0].channel: must be one of"),
    ([{"name": "a", "channel": "outbox"}], "receivers[0].format: an outbox receiver"),
    ([{"name": "a", "channel": "teams"}], "receivers[0].destination: name the environment variable"),
    ([{"name": "a", "channel": "teams", "destination": "https://example.invalid/hook?sig=abc"}],
     "receivers[0].destination: must be the NAME of an environment variable"),
    ([{"name": "a", "channel": "outbox", "format": "teams", "language": "fr"}], "receivers[0].language"),
    ([{"name": "a", "channel": "outbox", "format": "teams", "kinds": ["outage"]}], "receivers[0].kinds"),
    ([{"name": "a", "channel": "outbox", "format": "teams", "colour": "red"}], "receivers[0].colour: unknown setting"),
    ([{"name": "a", "channel": "outbox", "format": "teams"}, {"name": "a", "channel": "outbox", "format": "slack"}],
     "name 'a' is used twice"),
    ([], "receivers: must be a non-empty list"),
    (5, "receivers: must be a non-empty list"),
    ([{"name": "a", "channel": {"a": "b"}}], "receivers[0].channel: must be one of teams, slack, email, outbox (got a mapping)"),
    ([{"name": "a", "channel": "outbox", "format": "teams", "stages": [{"a": "b"}]}], "receivers[0].stages: a list of"),
    ([{"name": "a", "channel": "slack", "token": "T", "slack_channel": "C1", "lookup_per_second": 0}],
     "receivers[0].lookup_per_second: a number above 0"),
    ([{"name": "a", "channel": "teams", "destination": "T", "lookup_per_second": 1}],
     "receivers[0].lookup_per_second: unknown setting for channel teams"),
])
def test_bad_receivers_are_named(receivers, expected):
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": receivers}, source="relay.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("relay.yaml:")


def test_a_secret_written_as_destination_is_not_echoed():
    secret = "https://example.invalid/hook?sig=SECRETSECRET"
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{"name": "a", "channel": "teams", "destination": secret}]})
    assert "SECRETSECRET" not in str(info.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        parse_config({"colour": 1, "receivers": [{"channel": "fax"}, {"name": "b", "channel": "outbox"}]})
    text = str(info.value)
    assert "colour: unknown setting" in text and "receivers[0].name" in text and "receivers[1].format" in text


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("receivers: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_bytes("outbox: 出力\n".encode("shift_jis"))
    with pytest.raises(ConfigError, match=r"bad\.yaml:1: the file is not UTF-8 text"):
        load_config(bad)
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_config(bad)


def test_the_backfill_scope_is_read_and_checked():
    config = parse_config({"azure": {"backfill": {"services": ["Virtual Machines"], "regions": ["Japan East", "Global"]}}})
    assert config.azure.backfill_services == ("Virtual Machines",)
    assert config.azure.backfill_regions == ("Japan East", "Global")
    with pytest.raises(ConfigError) as problem:
        parse_config({"azure": {"backfill": {"services": "Virtual Machines", "region": ["Japan East"]}}})
    assert problem.value.problems == (
        "azure.backfill.region: unknown setting; did you mean regions?",
        "azure.backfill.services: a list of names as Service Health writes them, like"
        " [Virtual Machines, Virtual Machine Scale Sets]",
    )


# --- a Teams bot in a channel (channel: teams, via: bot) ---

BOT = {"name": "ops", "channel": "teams", "via": "bot", "app_id": "5d0c3b7e-8f21-4a6d-9b3e-1c2d3e4f5a6b",
       "tenant_id": "3c9a1f2e-7b6d-4e5f-8a9b-0c1d2e3f4a5b",
       "team_channel": "19:c0ffee00ba5e4c1d8e2f3a4b5c6d7e8f@thread.tacv2",
       "service_url": "https://smba.trafficmanager.net/apac/"}


def test_a_teams_bot_receiver_is_read():
    receiver = parse_config({"receivers": [{**BOT, "secret": "TEAMS_BOT_APP_SECRET",
                                            "authority": "https://login.microsoftonline.us"}]}).receivers()["ops"]
    assert (receiver.channel, receiver.transport, receiver.destination_env) == ("teams", "teams-bot",
                                                                                "TEAMS_BOT_APP_SECRET")
    assert receiver.options == {key: BOT[key] for key in ("app_id", "tenant_id", "team_channel", "service_url")} | {
        "authority": "https://login.microsoftonline.us"}
    identity = parse_config({"receivers": [BOT]}).receivers()["ops"]  # no secret: the managed identity is the bot
    assert identity.transport == "teams-bot" and identity.destination_env is None
    webhook = parse_config({"receivers": [{"name": "t", "channel": "teams", "via": "webhook", "destination": "T"}]})
    assert webhook.receivers()["t"].transport == "teams"


@pytest.mark.parametrize(("changes", "expected"), [
    ({"via": "pigeon"}, "receivers[0].via: how a Teams receiver sends: webhook (a Workflows webhook, the default) or"
                        " bot (a bot in a channel: a thread an event) (got 'pigeon')"),
    ({"app_id": "my-bot"}, "receivers[0].app_id: the bot's Microsoft App ID (its app registration's client id, or"
                           " its managed identity's), a GUID like 00000000-0000-0000-0000-000000000000 (got 'my-bot')"),
    ({"app_id": None}, "receivers[0].app_id: the bot's Microsoft App ID"),
    ({"tenant_id": "contoso.onmicrosoft.com"}, "receivers[0].tenant_id: the Entra tenant id of the bot and the team,"
                                               " a GUID"),
    ({"team_channel": "General"}, "receivers[0].team_channel: the channel's id, like 19:…@thread.tacv2 (in Teams:"
                                  " the channel's ⋯ → Get link to channel; the id is the part after /channel/,"
                                  " URL-decoded) (got 'General')"),
    ({"team_channel": "19%3Ac0ffee%40thread.tacv2"}, "receivers[0].team_channel: the channel's id"),
    ({"service_url": None}, "receivers[0].service_url: the Bot Connector's https:// URL for the tenant's region,"
                            " like https://smba.trafficmanager.net/apac/"),
    ({"service_url": "http://smba.trafficmanager.net/apac/"}, "receivers[0].service_url: an https:// URL"),
    ({"secret": "s3cr3t~value.with-dots"}, "receivers[0].secret: must be the NAME of an environment variable"),
    ({"authority": "login.microsoftonline.com"}, "receivers[0].authority: an https:// URL"),
    ({"destination": "TEAMS_WEBHOOK_URL"}, "receivers[0].destination: a Teams bot (via: bot) posts as the bot,"
                                           " through no webhook; leave destination out"),
    ({"auth": "entra"}, "receivers[0].auth: a Teams bot (via: bot) posts as the bot"),
    ({"slack_channel": "C1"}, "receivers[0].slack_channel: unknown setting for channel teams"),
])
def test_a_teams_bot_receivers_problems_are_named(changes, expected):
    item = {key: value for key, value in {**BOT, **changes}.items() if value is not None}
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [item]}, source="relay.yaml")
    assert expected in str(info.value)


def test_bot_settings_on_a_webhook_receiver_are_named():
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{"name": "t", "channel": "teams", "destination": "TEAMS_WEBHOOK_URL",
                                     "app_id": BOT["app_id"], "team_channel": BOT["team_channel"]}]})
    text = str(info.value)
    assert "receivers[0].app_id: for a Teams bot only (via: bot)" in text
    assert "receivers[0].team_channel: for a Teams bot only (via: bot)" in text


def test_a_client_secret_written_in_place_of_its_variable_is_not_echoed():
    with pytest.raises(ConfigError) as info:
        parse_config({"receivers": [{**BOT, "secret": "Zq8~client.secret-value_42"}]})
    assert "Zq8~client" not in str(info.value)
