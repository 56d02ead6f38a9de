"""The alert context of an Azure Monitor alert → what caused it, per monitoring service, as Microsoft documents
each (learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema and alerts-payload-samples; Advisor's
recommendation alerts in learn.microsoft.com/azure/advisor/advisor-alerts-portal; the samples themselves are in
tests/payloads/common/):

    Platform                             metric alerts: condition.allOf (static, dynamic, multi-resource criteria,
                                         availability tests)
    Log Alerts V2, Simple Log Alert      log search alerts of the scheduled query rules API 2020-05-01 and later:
                                         condition.allOf, with links to the results
    Log Analytics, Application Insights  log search alerts of the earlier API: SearchQuery, ResultCount, links
    Activity Log - <category>            Administrative, Policy, Autoscale, Security, Recommendation: the event
    SmartDetector                        smart detection of Application Insights
    Prometheus                           Prometheus rule groups: the expression and its value, labels
    CostAlerts                           budget alerts: AlertData

Every field is optional: a malformed one is a warning and read as unknown.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from relay.alerts.document import Node, load_json, unique
from relay.model import Criterion, Window
from relay.text import one_line

PORTAL_HOSTS = ("portal.azure.com", "ms.portal.azure.com", "preview.portal.azure.com", "portal.azure.us",
                "portal.azure.cn")
URL_CHARS = 3000  # a Slack button holds a URL this long
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # the characters a URL keeps as they are, besides letters, digits and -._
# The earlier log search alerts write their search interval as 3/22/2019 1:36:31 PM (UTC).
_US_TIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d):(\d\d) ([AP]M)", re.I | re.ASCII)


@dataclass(frozen=True)
class Cause:
    """What an alert context says: the criteria and what they measured, the period evaluated, other facts."""

    criteria: tuple[Criterion, ...] = ()
    window_size: str | None = None  # ISO 8601 duration: PT5M
    window: Window = field(default_factory=Window)
    facts: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    scope: str | None = None  # what a budget is of, when the essentials name no target
    name: str | None = None  # a budget's name, when the essentials name no rule
    event_data_id: str | None = None  # an activity log event's
    event_time: datetime | None = None  # an activity log event's, when the essentials give no firing time
    read: bool = True  # False: the context was not read (unknown service or version)


def portal_url(node: Node, key: str) -> str | None:
    """An https link into the Azure portal; anything else is left out, with a warning."""
    text = node.text(key)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        scheme, host = "", None
    url = quote(text, safe=_URL_SAFE)  # what a browser would send for a space or a '<' in it
    if scheme != "https" or host not in PORTAL_HOSTS or len(url) > URL_CHARS:
        node.notes.warn(node.at(key), f"not a link into the Azure portal of at most {URL_CHARS:,} characters; left out")
        return None
    return url


def _facts(*pairs: tuple[str, str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((key, value) for key, value in pairs if value)


def _dimensions(node: Node, key: str) -> tuple[tuple[str, str], ...]:
    pairs = ((d.text("name") or "", d.text("value") or "") for d in node.objects(key))
    return tuple(pair for pair in pairs if any(pair))


def _results_link(node: Node, filtered: str, unfiltered: str) -> tuple[tuple[str, str], ...]:
    """The log search results in the portal: filtered by the alert's dimensions when Azure gives that link."""
    url = portal_url(node, filtered) or portal_url(node, unfiltered)
    return (("results", url),) if url else ()


# ---------------------------------------------------------------------------------------------------------------
# The readers, one per kind of alert context


def criteria(context: Node) -> Cause:
    """Metric alerts and log search alerts V2: condition.allOf, each criterion with what it measured."""
    condition = context.optional_object("condition")
    if condition is None:
        return Cause()
    found: list[Criterion] = []
    links: list[tuple[str, str]] = []
    facts: list[tuple[str, str]] = []
    for c in condition.objects("allOf"):
        found.append(Criterion(
            metric=c.text("metricName") or c.text("metricMeasureColumn"),
            query=c.text("searchQuery"),
            operator=c.text("operator"),
            threshold=c.text("threshold"),
            value=c.text("metricValue"),
            aggregation=c.text("timeAggregation"),
            dimensions=_dimensions(c, "dimensions"),
        ))
        links += _results_link(c, "linkToFilteredSearchResultsUI", "linkToSearchResultsUI")
        facts += _facts(("web_test", c.text("webTestName")), ("sensitivity", c.text("alertSensitivity")))
    return Cause(
        criteria=tuple(found),
        window_size=condition.text("windowSize"),
        window=Window(condition.time("windowStartTime"), condition.time("windowEndTime")),
        facts=tuple(dict.fromkeys(facts)),
        links=tuple(dict.fromkeys(links)),
    )


def log_search(context: Node) -> Cause:
    """Log search alerts of the earlier API (Log Analytics, Application Insights): the query, the number of
    results against the threshold, the search interval."""
    minutes = context.text("SearchIntervalInMinutes")
    return Cause(
        criteria=(Criterion(query=context.text("SearchQuery"), operator=context.text("Operator"),
                            threshold=context.text("Threshold"), value=context.text("ResultCount"),
                            dimensions=_dimensions(context, "Dimensions")),),
        window_size=f"PT{minutes}M" if minutes and minutes.isdigit() else None,
        window=Window(_interval_time(context, "SearchIntervalStartTimeUtc"),
                      _interval_time(context, "SearchIntervalEndtimeUtc")),
        facts=_facts(("log_alert_type", context.text("AlertType"))),
        links=_results_link(context, "LinkToFilteredSearchResultsUI", "LinkToSearchResults"),
    )


def activity_log(context: Node) -> Cause:
    """An activity log event (Administrative, Policy, Autoscale, Security, Recommendation): the operation, its
    status and caller, and what its category says in its properties."""
    props = context.optional_object("properties")
    facts = _facts(("operation", context.text("operationName")), ("operation_status", context.text("status")),
                   ("caller", context.text("caller")))
    links: tuple[tuple[str, str], ...] = ()
    if props is not None:
        facts += _category_facts(props)
        url = portal_url(props, "recommendationResourceLink")
        links = (("recommendation", url),) if url else ()
    return Cause(facts=facts, links=links, event_data_id=context.identifier("eventDataId"),
                 event_time=context.time("eventTimestamp"))


def _category_facts(props: Node) -> tuple[tuple[str, str], ...]:
    old, new = props.text("oldInstancesCount"), props.text("newInstancesCount")
    status = props.text("threatStatus")
    return _facts(
        ("description", props.text("description")),
        ("instance_count", f"{old} → {new}" if old and new else None),
        ("recommendation", props.text("recommendationName")),
        ("recommendation_impact", props.text("recommendationImpact")),
        ("threat", " / ".join(unique([props.text("category"), status])) if status else None),
        ("compromised_entity", props.text("compromisedEntity")),
        ("action_taken", props.text("actionTaken")),
        *_policy(props),
    )


def _policy(props: Node) -> tuple[tuple[str, str | None], ...]:
    """The first policy of a Policy event's `policies`: JSON in a string."""
    value = props.get("policies")
    if not isinstance(value, str) or not value.strip():
        return ()
    policies, error = load_json(value)
    holder = Node({"policies": None if error else policies}, props.path, props.notes)
    first = next(iter(holder.objects("policies")), None)
    if first is None:
        return ()
    return ("policy", first.text("policyAssignmentName")), ("policy_effect", first.text("policyDefinitionEffect"))


def smart_detection(context: Node) -> Cause:
    return Cause(facts=_facts(
        ("detector", context.text("SmartDetectorName")),
        ("description", context.text("DetectionSummary")),
        ("detected_value", context.text("DetectedValue")),
        ("normal_value", context.text("NormalValue")),
    ))


def prometheus(context: Node) -> Cause:
    labels = context.optional_object("labels")
    annotations = context.optional_object("annotations")
    shown = ", ".join(f"{one_line(name)}={value}" for name in labels.value if (value := labels.text(name))) if labels else ""
    summary = (annotations.text("summary") or annotations.text("description")) if annotations else None
    group = context.text("ruleGroup")
    return Cause(
        criteria=(Criterion(query=context.text("expression"), value=context.text("expressionValue")),),
        window_size=context.text("for"),
        facts=_facts(
            ("description", summary),
            ("labels", shown),
            ("rule_group", group.rstrip("/").rpartition("/")[2] if group else None),
        ),
    )


def budget(context: Node) -> Cause:
    """A cost budget's alert: spent (or forecast) against the notification's threshold."""
    data = context.optional_object("AlertData")
    if data is None:
        return Cause()
    forecasted = (data.text("ThresholdType") or "").casefold() == "forecasted"
    name = data.text("BudgetName")
    return Cause(
        criteria=(Criterion(metric=name, threshold=data.text("NotificationThresholdAmount"),
                            value=data.text("ForecastedTotalForPeriod" if forecasted else "SpentAmount")),),
        facts=_facts(("threshold_type", data.text("ThresholdType")), ("budget_amount", data.text("BudgetThreshold")),
                     ("spent", data.text("SpentAmount") if forecasted else None)),
        scope=data.text("Scope"),
        name=name,
    )


READERS: dict[str, Callable[[Node], Cause]] = {
    "platform": criteria,
    "logalertsv2": criteria,
    "simplelogalert": criteria,
    "loganalytics": log_search,
    "applicationinsights": log_search,
    "smartdetector": smart_detection,
    "prometheus": prometheus,
    "costalerts": budget,
}


def _interval_time(node: Node, key: str) -> datetime | None:
    value = node.get(key)
    match = _US_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return node.time(key)
    month, day, year, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        when = datetime(year, month, day, hour % 12 + (12 if match[7].upper() == "PM" else 0), minute, second,
                        tzinfo=UTC)
    except ValueError:
        return node.time(key)  # 13/40/2019: said as an unreadable time
    return node.showable(key, when, value)
