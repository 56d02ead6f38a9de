"""A VM whose self-service maintenance failed shows Azure's reason (lastOperationMessage) in every channel:
translated when it is a message the relay knows, else as Azure wrote it, marked as Azure's text."""
from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

import pytest

from relay.model import MaintenanceState
from relay.render import render
from relay.render.email import vm_csv
from relay.render.view import build_view
from tests import factories as f
from tests.render_fixtures import email_parts, parse_email, slack_payload, slack_texts, vm_rows

COMPLETED_MESSAGE = "Maintenance completed successfully."
UNKNOWN_MESSAGE = "The VM is in a state that does not allow maintenance (code 4711)."
NOT_NOW_JA = "現在この VM ではメンテナンスを実行できません。時間をおいてもう一度実行してください。"
NO_RESPONSE_JA = "VM が応答しなかったため、メンテナンスは中止されました。もう一度実行してください。"


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


def rows_of(notification) -> dict:
    return {row.name: row for row in build_view(notification).rows}


def test_only_the_retry_states_carry_the_reason_and_a_known_one_its_key():
    rows = rows_of(failed_attempts())
    assert (rows["vm-web-02"].last_attempt, rows["vm-web-02"].last_attempt_key) == (f.ABORTED_MESSAGE, "vm_did_not_respond")
    assert (rows["vm-batch-01"].last_attempt, rows["vm-batch-01"].last_attempt_key) == (f.RETRY_LATER_MESSAGE, "not_now")
    assert (rows["vm-old-01"].last_attempt, rows["vm-old-01"].last_attempt_key) == ("", "")  # a success needs no explaining
    assert (rows["vm-web-01"].last_attempt, rows["vm-web-01"].last_attempt_key) == ("", "")


@pytest.mark.parametrize("written", [
    "Maintenance cannot be performed on the VM now. Retry later.",
    "maintenance cannot be performed on the VM now.  Retry later",
    "  MAINTENANCE CANNOT BE PERFORMED ON THE VM NOW.\nRETRY LATER. ",
])
def test_a_known_message_is_known_in_any_case_and_spacing(written):
    assert rows_of(failed_attempts(written))["vm-batch-01"].last_attempt_key == "not_now"


def test_an_unknown_message_has_no_key_and_is_kept_as_azure_wrote_it():
    row = rows_of(failed_attempts(UNKNOWN_MESSAGE))["vm-batch-01"]
    assert (row.last_attempt, row.last_attempt_key) == (UNKNOWN_MESSAGE, "")


def _line(element: dict[str, Any]) -> str:
    """What a Teams reader sees of a TextBlock, or of a RichTextBlock's runs."""
    if element["type"] == "RichTextBlock":
        return "".join(run["text"] for run in element["inlines"])
    return element["text"]


def teams_state_column(notification, lang: str, vm: str) -> list[str]:
    body = render(notification, f.receiver("teams", lang)).body
    by_name = {_line(row["columns"][0]["items"][0]).strip("*"): row for row in vm_rows(body)}
    return [_line(item) for item in by_name[vm]["columns"][1]["items"]]


def test_teams_puts_the_translated_reason_under_the_state():
    assert teams_state_column(failed_attempts(), "ja", "vm-batch-01") == [
        "後で再試行（Retry later）", f"前回の実行結果：{NOT_NOW_JA}"]
    assert teams_state_column(failed_attempts(), "en", "vm-web-02")[-1] == f"Last attempt: {f.ABORTED_MESSAGE}"
    assert not any("前回の実行結果" in line for line in teams_state_column(failed_attempts(), "ja", "vm-old-01"))


def test_teams_marks_an_unknown_reason_as_azures_text():
    n = failed_attempts(UNKNOWN_MESSAGE)
    assert teams_state_column(n, "ja", "vm-batch-01")[-1] == f"前回の実行結果：Azure の原文: {UNKNOWN_MESSAGE}"
    assert teams_state_column(n, "en", "vm-batch-01")[-1] == f"Last attempt: Azure's text: {UNKNOWN_MESSAGE}"


def slack_lines(notification, lang: str) -> list[str]:
    texts = "\n".join(slack_texts(slack_payload(render(notification, f.receiver("slack", lang)).body)))
    return texts.splitlines()


def test_slack_adds_the_translated_reason_to_the_vm():
    assert f"\u2003前回の実行結果：{NOT_NOW_JA}" in slack_lines(failed_attempts(), "ja")
    english = slack_lines(failed_attempts(), "en")
    assert f"\u2003Last attempt: {f.RETRY_LATER_MESSAGE}" in english
    assert sum("Last attempt:" in line for line in english) == 2


def test_slack_marks_an_unknown_reason_as_azures_text():
    assert f"\u2003前回の実行結果：Azure の原文: {UNKNOWN_MESSAGE}" in slack_lines(failed_attempts(UNKNOWN_MESSAGE), "ja")
    assert f"\u2003Last attempt: Azure's text: {UNKNOWN_MESSAGE}" in slack_lines(failed_attempts(UNKNOWN_MESSAGE), "en")


def test_email_text_and_html_translate_the_reason_and_the_csv_keeps_azures_text():
    text, html = email_parts(parse_email(render(failed_attempts(), f.receiver("email", "both")).body))
    assert f"   前回の実行結果 / Last attempt: {NOT_NOW_JA} / {f.RETRY_LATER_MESSAGE}" in text
    assert f"前回の実行結果 / Last attempt: {NO_RESPONSE_JA} / {f.ABORTED_MESSAGE}</span>" in html
    assert COMPLETED_MESSAGE not in text and COMPLETED_MESSAGE not in html

    rows = list(csv.DictReader(io.StringIO(vm_csv(build_view(failed_attempts()), ("en",)).decode("utf-8-sig"))))
    assert {r["VM name"]: r["Last attempt"] for r in rows} == {
        "vm-web-02": f.ABORTED_MESSAGE, "vm-batch-01": f.RETRY_LATER_MESSAGE, "vm-old-01": "", "vm-web-01": ""}


def test_email_marks_an_unknown_reason_as_azures_text():
    n = failed_attempts(UNKNOWN_MESSAGE)
    text, html = email_parts(parse_email(render(n, f.receiver("email", "both")).body))
    assert f"   前回の実行結果 / Last attempt: Azure の原文 / Azure's text: {UNKNOWN_MESSAGE}" in text
    assert f"前回の実行結果 / Last attempt: Azure の原文 / Azure's text: {UNKNOWN_MESSAGE}</span>" in html
    japanese, _ = email_parts(parse_email(render(n, f.receiver("email", "ja")).body))
    assert f"   前回の実行結果: Azure の原文: {UNKNOWN_MESSAGE}" in japanese


def test_a_hostile_reason_is_shown_as_text():
    hostile = "<!channel> **now** [click](https://evil.example)\n<b>x</b>"
    n = failed_attempts(retry_later_message=hostile)
    slack = "\n".join(slack_texts(slack_payload(render(n, f.receiver("slack", "en")).body)))
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
    html = email_parts(parse_email(render(n, f.receiver("email", "en")).body))[1]
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    body = render(n, f.receiver("teams", "en")).body
    (row,) = [row for row in vm_rows(body) if "vm-batch-01" in _line(row["columns"][0]["items"][0])]
    reason = row["columns"][1]["items"][-1]
    assert reason["type"] == "RichTextBlock"  # TextRuns read no markdown: Azure's text is shown as it is
    assert "**now** [click](https://evil.example)" in _line(reason)

    formula = failed_attempts(retry_later_message='=HYPERLINK("https://evil.example","Retry")')
    rows = csv.DictReader(io.StringIO(vm_csv(build_view(formula), ("en",)).decode("utf-8-sig")))
    assert {r["VM name"]: r["Last attempt"] for r in rows}["vm-batch-01"].startswith("'=HYPERLINK")
