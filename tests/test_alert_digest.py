"""The digest's count of Azure Monitor alerts of the last 24 hours, per team and severity: off unless the `digest:`
section says `alerts: true`; a team is a receiver the routing gives the alert to; a Resolved is no new alert."""
import copy
import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest

from relay.cli import main
from relay.config import ConfigError, load_config, parse_config
from relay.digest.alerts import OTHER, AlertCounts, TeamAlerts, alert_counts
from relay.model import SEVERITIES
from relay.store import Communication
from tests import factories as f

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FIRED = json.loads((EXAMPLES / "alerts" / "08-metric-fired.json").read_text(encoding="utf-8"))
WEB = f"/subscriptions/{f.SUB}/resourceGroups/rg-web/providers/Microsoft.Web/sites/web-01"
NOW = datetime(2027, 1, 15, 0, tzinfo=UTC)


def received(hours_ago: float, **fields) -> Communication:
    return Communication(f.alert_event(f.metric_alert(**fields)), NOW - timedelta(hours=hours_ago))


def routes():
    return load_config(EXAMPLES / "relay.yaml").routes


def test_fired_alerts_of_the_last_day_per_team_and_severity():
    counts = alert_counts([
        received(1, severity="Sev1", targets=(WEB,), target_group=None),  # platform and web-team
        received(2, severity="Sev1"),  # platform
        received(3, severity="Sev3", targets=(WEB,), target_group=None),  # platform: not Sev0-1
        received(4, severity="Sev1", monitor_condition="Resolved"),  # ends a firing: not counted
        received(25, severity="Sev0"),  # older than a day
    ], routes(), NOW)
    assert counts == AlertCounts(SEVERITIES, (TeamAlerts("platform", (0, 2, 0, 1, 0), 3),
                                              TeamAlerts("web-team", (0, 1, 0, 0, 0), 1)), 3)


def test_alerts_without_a_severity_or_a_receiver_have_their_own_column_and_row():
    nobody = parse_config({"receivers": [{"name": "maint", "channel": "outbox", "format": "email",
                                          "kinds": ["maintenance"]}]}).routes
    counts = alert_counts([received(1, severity=None), received(2, severity="Sev9")], nobody, NOW)
    assert counts.severities == (*SEVERITIES, OTHER)
    assert counts.teams == (TeamAlerts("", (0, 0, 0, 0, 0, 2), 2),)


def test_the_setting_is_off_unless_asked_for_and_checked():
    base = {"receivers": [{"name": "m", "channel": "outbox", "format": "email"}]}
    assert parse_config({**base, "digest": {"receivers": ["m"]}}).digest.alerts is False
    assert parse_config({**base, "digest": {"receivers": ["m"], "alerts": True}}).digest.alerts is True
    with pytest.raises(ConfigError) as error:
        parse_config({**base, "digest": {"receivers": ["m"], "alerts": "yes"}})
    assert error.value.problems == ("digest.alerts: true (count the Azure Monitor alerts of the last 24 hours) or"
                                    " false",)


def relay_and_digest(tmp_path: Path, alerts_setting: str) -> tuple[str, str] | None:
    """Three alerts relayed on 14 Jan, then the managers' digest of 15 Jan: its text and HTML, None when none was sent."""
    tmp_path.mkdir(exist_ok=True)
    config = tmp_path / "relay.yaml"
    config.write_text(f"""\
receivers:
  - {{name: platform, channel: outbox, format: teams}}
  - {{name: web-team, channel: outbox, format: slack}}
  - {{name: managers, channel: outbox, format: email, kinds: [maintenance]}}
route:
  receiver: platform
  routes:
    - {{receiver: platform, continue: true}}
    - {{receiver: web-team, match: {{severity: [Sev0, Sev1]}}, match_re: {{resource_group: rg-web.*}}}}
digest:
  receivers: [managers]
{alerts_setting}""", encoding="utf-8")
    web = copy.deepcopy(FIRED)
    web["data"]["essentials"]["alertId"] += "-web"
    web["data"]["essentials"]["alertTargetIDs"] = [WEB]
    low = copy.deepcopy(FIRED)
    low["data"]["essentials"]["alertId"] += "-low"
    low["data"]["essentials"]["severity"] = "Sev3"
    outbox, ledger = tmp_path / "outbox", tmp_path / "ledger.sqlite"
    for doc in (FIRED, web, low):
        path = tmp_path / "alert.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        assert main(["process", str(path), "--config", str(config), "--state", str(ledger), "--outbox", str(outbox),
                     "--now", "2027-01-14T03:10:00Z"]) == 0
    assert main(["digest", "--config", str(config), "--state", str(ledger), "--outbox", str(outbox),
                 "--now", "2027-01-15T00:00:00Z"]) == 0
    sent = outbox / "managers" / "digest-20270115.eml"
    if not sent.exists():
        return None
    mail = email.message_from_bytes(sent.read_bytes(), policy=default)
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


def test_the_digest_counts_the_alerts_when_asked(tmp_path):
    text, html = relay_and_digest(tmp_path, "  alerts: true\n") or ("", "")
    ja, en = text.split("-" * 40)
    assert "== 過去 24 時間に発生した Azure Monitor アラート（チーム別・重大度別） ==" in ja
    assert ("- platform: Sev0（重大） 0・Sev1（エラー） 2・Sev2（警告） 0・Sev3（情報） 1・Sev4（詳細） 0（合計 3）"
            in ja)
    assert "- web-team: Sev0（重大） 0・Sev1（エラー） 1・Sev2（警告） 0・Sev3（情報） 0・Sev4（詳細） 0（合計 1）" in ja
    assert "合計 3 件（1 件のアラートを複数のチームが受け取ることがあります）" in ja
    assert "== Azure Monitor alerts fired in the last 24 hours, per team and severity ==" in en
    assert '<div data-section="alerts"' in html


def test_a_digest_with_nothing_else_is_sent_for_its_alerts_and_only_when_asked(tmp_path):
    sent = relay_and_digest(tmp_path / "on", "  alerts: true\n")
    assert sent is not None and "Azure Monitor" in sent[0]
    assert relay_and_digest(tmp_path / "off", "") is None  # no maintenance and no count asked for: nothing to report
