"""A VM whose self-service maintenance failed shows Azure's reason (lastOperationMessage) in every channel."""
from __future__ import annotations

import csv
import io
from dataclasses import replace

from relay.model import MaintenanceState
from relay.render import render
from relay.render.email import vm_csv
from relay.render.view import build_view
from tests import factories as f
from tests.render_fixtures import card_of, email_parts, parse_email, slack_payload, slack_texts, strings, vm_rows

COMPLETED_MESSAGE = "Maintenance completed successfully."


def _with_message(affected, message):
    vm = affected.vm
    return replace(affected, vm=replace(vm, redeploy=replace(vm.redeploy, last_message=message)))


def failed_attempts(retry_later_message=f.RETRY_LATER_MESSAGE):
    vms = f.by_urgency([
        f.make_vm("vm-web-02", MaintenanceState.RETRY_NOW),
        _with_message(f.make_vm("vm-batch-01", MaintenanceState.RETRY_LATER), retry_later_message),
        _with_message(f.make_vm("vm-old-01", MaintenanceState.ALREADY_UPDATED), COMPLETED_MESSAGE),
        f.make_vm("vm-web-01", MaintenanceState.START_NOW),
    ])
    return f.notification(vms=vms)


def test_only_the_retry_states_carry_the_reason():
    rows = {row.name: row for row in build_view(failed_attempts()).rows}
    assert rows["vm-web-02"].last_attempt == f.ABORTED_MESSAGE
    assert rows["vm-batch-01"].last_attempt == f.RETRY_LATER_MESSAGE
    assert rows["vm-old-01"].last_attempt == ""  # a success needs no explaining
    assert rows["vm-web-01"].last_attempt == ""


def test_teams_puts_the_reason_under_the_state():
    body = render(failed_attempts(), f.receiver("teams", "ja")).body
    by_name = {row["columns"][0]["items"][0]["text"]: row for row in vm_rows(body)}
    state_column = [i["text"] for i in by_name["**vm-batch-01**"]["columns"][1]["items"]]
    assert state_column == ["後で再試行", f"前回の実行結果：{f.RETRY_LATER_MESSAGE}"]
    assert not any("前回の実行結果" in text for text in strings(by_name["**vm-old-01**"]))
    english = strings(card_of(render(failed_attempts(), f.receiver("teams", "en")).body))
    assert f"Last attempt: {f.ABORTED_MESSAGE}" in english


def test_slack_adds_a_line_to_the_vm():
    texts = "\n".join(slack_texts(slack_payload(render(failed_attempts(), f.receiver("slack", "en")).body)))
    line = next(line for line in texts.splitlines() if f.RETRY_LATER_MESSAGE in line)
    assert line == f"\u2003Last attempt: {f.RETRY_LATER_MESSAGE}"
    assert texts.count("Last attempt:") == 2


def test_email_text_html_and_csv():
    message = parse_email(render(failed_attempts(), f.receiver("email", "both")).body)
    text, html = email_parts(message)
    assert f"   前回の実行結果 / Last attempt: {f.RETRY_LATER_MESSAGE}" in text
    assert f"前回の実行結果 / Last attempt: {f.ABORTED_MESSAGE}</span>" in html
    assert COMPLETED_MESSAGE not in text and COMPLETED_MESSAGE not in html

    rows = list(csv.DictReader(io.StringIO(vm_csv(build_view(failed_attempts()), ("en",)).decode("utf-8-sig"))))
    assert {r["VM name"]: r["Last attempt"] for r in rows} == {
        "vm-web-02": f.ABORTED_MESSAGE, "vm-batch-01": f.RETRY_LATER_MESSAGE, "vm-old-01": "", "vm-web-01": ""}


def test_a_hostile_reason_is_shown_as_text():
    hostile = "<!channel> **now** [click](https://evil.example)\n<b>x</b>"
    n = failed_attempts(retry_later_message=hostile)
    slack = "\n".join(slack_texts(slack_payload(render(n, f.receiver("slack", "en")).body)))
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
    html = email_parts(parse_email(render(n, f.receiver("email", "en")).body))[1]
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    teams = strings(card_of(render(n, f.receiver("teams", "en")).body))
    assert not any("**now**" in text or "[click](" in text for text in teams)

    formula = failed_attempts(retry_later_message='=HYPERLINK("https://evil.example","Retry")')
    rows = csv.DictReader(io.StringIO(vm_csv(build_view(formula), ("en",)).decode("utf-8-sig")))
    assert {r["VM name"]: r["Last attempt"] for r in rows}["vm-batch-01"].startswith("'=HYPERLINK")
