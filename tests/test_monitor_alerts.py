"""Azure Monitor alerts of the common alert schema other than Service Health and Resource Health: every sample
Microsoft documents (tests/payloads/common/README.md names each one's source) is read into an Event of kind
ALERT with what it says, and anything else of the common schema is relayed with its essentials and a warning,
never refused."""
import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.alerts import PayloadError, parse_alert
from relay.hosts.intake import ingest
from relay.model import Criterion, EventKind, Window

PAYLOADS = Path(__file__).resolve().parent / "payloads" / "common"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "alerts"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def parse(doc: dict):
    return parse_alert(json.dumps(doc).encode())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def keys(pairs) -> list[str]:
    return [key for key, _ in pairs]


# What each sample says: (monitoring service, severity, monitor condition, rule, criteria, fact keys, link keys)
EXPECTED = {
    "metric-static-resolved.json": ("Platform", "Sev3", "Resolved", "WCUS-R2-Gen2",
                                    (Criterion("Percentage CPU", None, "GreaterThan", "25", "7.727", "Average",
                                               (("ResourceId", "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1"),)),), [], []),
    "metric-static.json": ("Platform", "Sev3", "Fired", "cpu-over-25",
                           (Criterion("Percentage CPU", None, "GreaterThan", "25", "31.1105", "Average",
                                      (("ResourceId", "b1b1b1b1-cccc-dddd-eeee-f2f2f2f2f2f2"),)),), [], []),
    "metric-dynamic.json": ("Platform", "Sev2", "Fired", "egress-anomaly",
                            (Criterion("Egress", None, "GreaterThan", "47658", "50101", "Total"),), ["sensitivity"], []),
    "metric-availability.json": ("Platform", "Sev1", "Fired", "myAvailabilityTest-myApplication",
                                 (Criterion("Failed Location", None, "GreaterThan", "2", "5", "Sum"),), ["web_test"], []),
    "log-analytics.json": ("Log Analytics", "Sev2", "Fired", "processor-time-low",
                           (Criterion(None, load("log-analytics.json")["data"]["alertContext"]["SearchQuery"],
                                      "Less Than", "10000", "2", None, (("Computer", "INC-Gen2Alert"),)),),
                           ["log_alert_type"], ["results"]),
    "log-application-insights.json": ("Application Insights", "Sev1", "Fired", "requests-500",
                                      (Criterion(None, 'requests | where resultCode == "500" | summarize AggregatedValue'
                                                       " = Count by bin(Timestamp, 5m), IP", "Less Than", "10000.0", "2",
                                                 None, (("IP", "1.1.1.1"),)),), ["log_alert_type"], ["results"]),
    "log-v2.json": ("Log Alerts V2", "Sev1", "Fired", "heartbeat-missing",
                    (Criterion("CounterValue", "Heartbeat", "LowerThan", "1", "0.0", "Count",
                               (("Computer", "TestComputer"),)),), [], ["results"]),
    "log-simple.json": ("Simple Log Alert", "Sev3", "Fired", "orders-exceptions",
                        (Criterion(None, "exceptions | where timestamp > ago(5m) | project timestamp, operation_Name,"
                                         " problemId, type, outerMessage", None, None, "1.0"),), [], ["results"]),
    "activity-administrative.json": ("Activity Log - Administrative", "Sev4", "Fired", "vm-restarted", (),
                                     ["operation", "operation_status", "caller"], []),
    "activity-policy.json": ("Activity Log - Policy", "Sev3", "Fired", "policy-audit", (),
                             ["operation", "operation_status", "caller", "policy", "policy_effect"], []),
    "activity-autoscale.json": ("Activity Log - Autoscale", "Sev4", "Fired", "vmss-scaled", (),
                                ["operation", "operation_status", "caller", "description", "instance_count"], []),
    "activity-security.json": ("Activity Log - Security", "Sev1", "Fired", "defender-threat", (),
                               ["operation", "operation_status", "threat", "compromised_entity", "action_taken"], []),
    "activity-recommendation.json": ("Activity Log - Recommendation", "Sev4", "Fired", "Webhhook-test", (),
                                     ["operation", "operation_status", "caller", "recommendation",
                                      "recommendation_impact"], ["recommendation"]),
    "prometheus.json": ("Prometheus", "Sev2", "Fired", "sql-down", (Criterion(None, "sql_up > 0", value="0"),),
                        ["description", "labels", "rule_group"], []),
    "test-activity-log.json": ("Activity Log - Administrative", "Sev4", "Fired", "test-activityLogAlertRule", (),
                               ["operation", "operation_status", "caller"], []),
    "test-availability.json": ("Platform", "Sev4", "Fired", "test-availabilityTest-test-applicationInsights",
                               (Criterion("FailedLocation", None, "GreaterThan", "2", "5.0", "Sum"),), ["web_test"], []),
    "test-budget.json": ("CostAlerts", None, "Fired", None,
                         (Criterion("Test_forcasted_budget", None, None, "$50.00", "$1111.11"),),
                         ["threshold_type", "budget_amount", "spent"], []),
    "test-cost-budget.json": ("CostAlerts", None, "Fired", None,
                              (Criterion("Test_actual_cost_budget", None, None, "$25.00", "$11,111.00"),),
                              ["threshold_type", "budget_amount"], []),
    "test-forecasted-budget.json": ("CostAlerts", None, "Fired", None,
                                    (Criterion("Test_forcasted_budget", None, None, "$50.00", "$1111.11"),),
                                    ["threshold_type", "budget_amount", "spent"], []),
    "test-log-v1-metric-measurement.json": ("Log Analytics", "Sev4", "Fired", "test-logAlertRule-v1-metricMeasurement",
                                            (Criterion(None, "Heartbeat | summarize AggregatedValue=count() by"
                                                             " bin(TimeGenerated, 5m)", "Greater Than", "0", "2"),),
                                            ["log_alert_type"], ["results"]),
    "test-log-v1-number-of-results.json": ("Log Analytics", "Sev4", "Fired", "test-logAlertRule-v1-numResults",
                                           (Criterion(None, "Heartbeat", "Greater Than", "0", "1"),),
                                           ["log_alert_type"], ["results"]),
    "test-log-v2.json": ("Log Alerts V2", "Sev4", "Fired", "test-logAlertRule-v2",
                         (Criterion(None, "Heartbeat", "GreaterThan", "0", "3.0", "Count",
                                    (("Computer", "test-computer"),)),), [], ["results"]),
    "test-metric-dynamic.json": ("Platform", "Sev4", "Fired", "test-dynamicMetricAlertRule",
                                 (Criterion("Transactions", None, "GreaterThan", "0.3", "78.09", "Average"),),
                                 ["sensitivity"], []),
    "test-metric-static.json": ("Platform", "Sev4", "Fired", "test-metricAlertRule",
                                (Criterion("Transactions", None, "GreaterThan", "0", "100", "Total",
                                           (("ApiName", "GetBlob"),)),), [], []),
    "test-smart-detection.json": ("SmartDetector", "Sev4", "Fired", "test-SmartAlertRule", (),
                                  ["detector", "description", "detected_value", "normal_value"], []),
}
HEALTH = {"test-resource-health.json": EventKind.RESOURCE_HEALTH, "test-service-health.json": EventKind.INCIDENT}


def test_every_sample_is_checked():
    assert set(EXPECTED) | set(HEALTH) == {p.name for p in PAYLOADS.glob("*.json")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_documented_sample(name):
    service, severity, condition, rule, criteria, facts, links = EXPECTED[name]
    event = parse(load(name))
    alert = event.alert
    assert event.kind is EventKind.ALERT and alert is not None
    assert (alert.service, alert.severity, alert.monitor_condition, alert.rule) == (service, severity, condition, rule)
    assert event.stage == condition
    assert alert.criteria == criteria
    assert keys(alert.facts) == facts
    assert keys(alert.links) == links
    assert alert.context_read
    assert event.warnings == ()
    assert event.alert_id and event.thread_key == f"alert/{event.alert_id}".lower()
    assert alert.fired is not None and event.event_time == (alert.resolved or alert.fired)


@pytest.mark.parametrize("name", sorted(HEALTH))
def test_health_test_notifications_keep_their_own_reading(name):
    assert parse(load(name)).kind is HEALTH[name]


def test_a_resolved_metric_alert_says_when_it_fired_and_resolved():
    alert = parse(load("metric-static-resolved.json")).alert
    assert (alert.fired, alert.resolved) == (utc("2019-03-22T13:58:24.3713213Z"), utc("2019-03-22T14:03:16.2246313Z"))
    assert alert.targets == ("/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/"
                             "microsoft.compute/virtualmachines/wcus-r2-gen2",)
    assert (alert.target_type, alert.target_group) == ("microsoft.compute/virtualmachines", "pipelinealertrg")
    assert alert.window_size == "PT5M" and alert.window == Window()


def test_the_evaluated_window_and_the_search_interval_are_read():
    assert parse(load("metric-static.json")).alert.window == Window(utc("2019-03-22T13:40:03.064Z"),
                                                                   utc("2019-03-22T13:45:03.064Z"))
    # The earlier log search API writes 3/22/2019 1:36:31 PM, in UTC.
    log = parse(load("log-analytics.json")).alert
    assert log.window == Window(utc("2019-03-22T13:36:31Z"), utc("2019-03-22T13:51:31Z"))
    assert log.window_size == "PT15M"


def test_a_budget_alert_is_named_by_its_budget_and_scoped_to_its_subscription():
    event = parse(load("test-cost-budget.json"))
    assert event.title == "Test_actual_cost_budget"
    assert event.alert.targets == ("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/",)
    assert event.subscription_ids == ("aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",)


def test_an_activity_log_alert_keeps_its_event_id():
    event = parse(load("activity-administrative.json"))
    assert event.event_data_id == "bbbbcccc-1111-dddd-2222-eeee3333ffff"
    assert dict(event.alert.facts)["operation"] == "Microsoft.Compute/virtualMachines/restart/action"


def test_a_link_with_spaces_is_sent_as_a_browser_would():
    (link,) = parse(load("activity-recommendation.json")).alert.links
    assert " " not in link[1] and "%3Cresource%20name%3E" in link[1]


# --------------------------------------------------------------------------------------------------------------
# Fired and Resolved: one thread, each once


def test_fired_and_resolved_share_a_thread_and_not_a_key():
    fired = parse_alert((EXAMPLES / "08-metric-fired.json").read_bytes())
    resolved = parse_alert((EXAMPLES / "09-metric-resolved.json").read_bytes())
    assert fired.thread_key == resolved.thread_key
    assert fired.dedup_key != resolved.dedup_key
    assert (fired.stage, resolved.stage) == ("Fired", "Resolved")
    assert resolved.event_time == utc("2027-01-14T03:49:40.882Z") > fired.event_time


def test_a_repeat_has_the_key_of_the_first_and_a_new_test_notification_a_new_one():
    doc = load("test-metric-static.json")
    assert parse(doc).dedup_key == parse(copy.deepcopy(doc)).dedup_key
    # The Action Group sends every test of a kind with one alertId: pressed again later, it is a new one.
    later = copy.deepcopy(doc)
    later["data"]["essentials"]["firedDateTime"] = "2025-04-16T09:00:00Z"
    assert parse(later).dedup_key != parse(doc).dedup_key


# --------------------------------------------------------------------------------------------------------------
# Never refused: what is not known is relayed with its essentials, and a warning


def essentials_only(doc: dict, path: str):
    event = parse(doc)
    assert event.kind is EventKind.ALERT and not event.alert.context_read
    assert [w.split(": ", 1)[0] for w in event.warnings] == [path]
    assert "relayed with its essentials only" in event.warnings[0]
    return event


def test_an_unknown_monitoring_service_is_relayed_with_its_essentials_and_a_warning():
    doc = load("metric-static.json")
    doc["data"]["essentials"]["monitoringService"] = "Some New Service"
    event = essentials_only(doc, "$.data.essentials.monitoringService")
    assert (event.alert.severity, event.alert.rule, event.alert.criteria) == ("Sev3", "cpu-over-25", ())
    assert event.alert.targets and event.alert.fired


def test_an_unknown_alert_context_version_is_relayed_with_its_essentials():
    doc = load("log-v2.json")
    doc["data"]["essentials"]["alertContextVersion"] = "2.0"
    essentials_only(doc, "$.data.essentials.alertContextVersion")


def test_an_alert_context_that_is_no_object_is_relayed_with_its_essentials():
    doc = load("prometheus.json")
    doc["data"]["alertContext"] = "context"
    essentials_only(doc, "$.data.alertContext")


def test_the_intake_answers_202_for_an_unknown_service_and_says_why():
    doc = load("metric-static.json")
    doc["data"]["essentials"]["monitoringService"] = "VM Insights"
    reply = ingest(json.dumps(doc).encode(), lambda body, event: "kept")
    assert reply.status == 202
    assert reply.body["kind"] == "alert" and "monitoringService" in reply.body["warnings"][0]


def test_bare_essentials_are_enough():
    event = parse({"schemaId": "azureMonitorCommonAlertSchema",
                   "data": {"essentials": {"alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/1"}}})
    assert event.kind is EventKind.ALERT and event.stage == "Fired" and event.alert.severity is None
    assert sorted(w.split(": ", 1)[0] for w in event.warnings) == ["$.data.essentials.monitorCondition",
                                                                   "$.data.essentials.monitoringService"]


def test_a_service_health_alert_without_its_monitoring_service_is_read_by_its_event():
    doc = json.loads((EXAMPLES / "01-planned.json").read_text(encoding="utf-8"))
    del doc["data"]["essentials"]["monitoringService"]
    event = parse(doc)
    assert event.kind is EventKind.MAINTENANCE and event.tracking_id == "XY12-3ZQ"
    assert event.warnings[0].startswith("$.data.essentials.monitoringService: missing; expected ServiceHealth or"
                                        " Resource Health; read as ServiceHealth from the alert context")


@pytest.mark.parametrize(("written", "read"), [("sev2", "Sev2"), ("2", "Sev2"), ("Sev0", "Sev0")])
def test_severity_is_read_in_azure_spelling(written, read):
    doc = load("metric-static.json")
    doc["data"]["essentials"]["severity"] = written
    event = parse(doc)
    assert event.alert.severity == read and event.warnings == ()


@pytest.mark.parametrize(("field", "value", "read"), [
    ("severity", "Sev7", "Sev7"),
    ("monitorCondition", "Acknowledged", "Fired"),
    ("monitorCondition", None, "Fired"),
])
def test_an_odd_essential_is_kept_or_read_plainly_with_a_warning(field, value, read):
    doc = load("metric-static.json")
    doc["data"]["essentials"][field] = value
    event = parse(doc)
    assert getattr(event.alert, "severity" if field == "severity" else "monitor_condition") == read
    assert [w.split(": ", 1)[0] for w in event.warnings] == [f"$.data.essentials.{field}"]


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "https://evil.example/", "http://portal.azure.com/#x", "https://portal.azure.com/#" + "a" * 3000,
])
def test_a_link_that_is_not_into_the_portal_is_left_out(url):
    doc = load("log-v2.json")
    criterion = doc["data"]["alertContext"]["condition"]["allOf"][0]
    criterion["linkToFilteredSearchResultsUI"] = criterion["linkToSearchResultsUI"] = url
    event = parse(doc)
    assert event.alert.links == ()
    assert len(event.warnings) == 2 and all("left out" in w for w in event.warnings)


def test_what_no_message_could_carry_is_still_refused():
    doc = load("metric-static.json")
    doc["data"]["essentials"]["firedDateTime"] = "9999-12-31T23:59:59Z"
    doc["data"]["essentials"]["alertId"] = "x" * 2000
    with pytest.raises(PayloadError) as exc:
        parse(doc)
    assert [p.path for p in exc.value.problems] == ["$.data.essentials.alertId", "$.data.essentials.firedDateTime"]
