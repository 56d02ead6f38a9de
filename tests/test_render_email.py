"""Email: a 7-bit RFC 822 message, multipart/alternative (text, then HTML), CSV of every VM for long lists."""
from __future__ import annotations

import base64
import csv
import io
from dataclasses import replace

import pytest

from relay.model import EventKind
from relay.render import render
from relay.render.email import EMAIL_MAX_ROWS
from tests import factories as f
from tests.render_fixtures import JAPANESE, csv_attachment, email_parts, parse_email


def mail(notification, language="both", **options):
    message = render(notification, f.receiver("email", language, **options))
    assert message.content_type == "message/rfc822"
    return message


@pytest.mark.parametrize("name", list(f.SCENARIOS))
@pytest.mark.parametrize("language", f.LANGUAGES)
def test_every_email_parses_back(name, language):
    n = f.SCENARIOS[name]()
    message = mail(n, language)
    assert message.body.isascii(), "the message must be 7-bit: base64 bodies, RFC 2047 headers"
    assert b"\r\n" in message.body
    parsed = parse_email(message.body)
    text, html = email_parts(parsed)
    assert parsed["Subject"]
    assert parsed["Message-ID"] and parsed["Date"]
    assert parsed["Auto-Submitted"] == "auto-generated"
    for affected in n.enriched.vms[:EMAIL_MAX_ROWS]:
        if n.event.kind.value == "maintenance":
            assert affected.vm.name in text and affected.vm.name in html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<style" not in html  # inline styles only
    if language == "en":
        assert not JAPANESE.search(text) and not JAPANESE.search(html)
        assert not JAPANESE.search(str(parsed["Subject"]))


def test_subject_is_encoded_japanese_then_english():
    message = mail(f.planned())
    raw_subject = next(line for line in message.body.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in raw_subject
    subject = str(parse_email(message.body)["Subject"])
    assert subject == (
        "【要対応 2 台】期限 1/23(金) 16:30 JST（あと3日4時間）東日本 VM 再起動 XY12-3ZQ"
        " / [Action: 2 VMs] by Fri 23 Jan 16:30 JST (3d 4h left) Japan East VM reboot XY12-3ZQ"
    )
    assert str(parse_email(mail(f.rescheduled_update(), "en").body)["Subject"]).startswith(
        "[Action: 2 VMs · rescheduled] by Fri 23 Jan 16:30 JST"
    )
    assert str(parse_email(mail(f.complete(), "ja").body)["Subject"]).startswith("【完了】東日本 VM 再起動 XY12-3ZQ")
    assert str(parse_email(mail(f.canceled(), "en").body)["Subject"]).startswith("[Canceled] Japan East VM reboot")
    incident = str(parse_email(mail(f.incident(), "ja").body)["Subject"])
    assert incident.startswith("【サービスの問題】") and "AB3C-DEF" in incident


def test_the_preheader_says_what_kind_of_news_and_our_vms_by_state():
    html = parse_email(mail(f.planned(), "ja").body).get_body(("html",)).get_content()
    preheader = html.split('<div style="display:none;max-height:0;overflow:hidden">')[1].split("</div>")[0]
    assert preheader.startswith("【計画メンテナンス】予定 Planned maintenance for Virtual Machines - Japan East: 今すぐ開始")


def test_subject_of_a_long_title_stays_reasonable():
    n = f.notification(replace(f.maintenance_event(title="Very long maintenance title " * 20), kind=EventKind.INCIDENT))
    subject = str(parse_email(mail(n).body)["Subject"])
    assert len(subject) < 200
    assert "…" in subject


def test_addresses_default_and_from_options():
    parsed = parse_email(mail(f.planned()).body)
    assert parsed["To"] == "platform-team@example.invalid"
    assert parsed["From"] == "azure-maintenance-relay@example.invalid"
    parsed = parse_email(mail(f.planned(), to="ops@example.com, mgr@example.com", **{"from": "relay@example.com"}).body)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ops@example.com", "mgr@example.com"]
    assert parsed["From"] == "relay@example.com"
    assert parsed["Message-ID"].endswith("@example.com>")


def test_rendering_is_deterministic_and_updates_share_a_thread():
    assert mail(f.planned()).body == mail(f.planned()).body
    first = parse_email(mail(f.planned()).body)
    update = parse_email(mail(f.rescheduled_update()).body)
    assert first["Message-ID"] != update["Message-ID"]
    assert first["References"] == update["References"] == first["In-Reply-To"]


def test_bodies_say_what_to_do_in_japanese_first():
    text, html = email_parts(parse_email(mail(f.planned()).body))
    for body in (text, html):
        assert body.index("必要な対応") < body.index("What to do")
        assert "az vm perform-maintenance" in body
        assert "今すぐ開始 / Start now" in body
        assert "2026年1月25日(日) 0:00〜12:00 JST（2026-01-24 15:00–2026-01-25 03:00 UTC）" in body
    assert "Azure ポータル / Azure portal: https://app.azure.com/h/XY12-3ZQ/0a1666" in text
    assert '<a href="https://app.azure.com/h/XY12-3ZQ/0a1666"' in html
    assert "<table" in html and "<th" in html


def test_a_short_list_has_no_attachment():
    parsed = parse_email(mail(f.planned()).body)
    assert parsed.get_content_type() == "multipart/alternative"
    assert csv_attachment(parsed) is None


def test_ten_thousand_vms_list_the_most_urgent_and_attach_all():
    n = f.ten_thousand()
    message = mail(n, "ja")
    parsed = parse_email(message.body)
    assert parsed.get_content_type() == "multipart/mixed"
    text, html = email_parts(parsed)
    names = [a.vm.name for a in n.enriched.vms]
    assert names[0] in text and names[EMAIL_MAX_ROWS - 1] in text and names[EMAIL_MAX_ROWS] not in text
    assert html.split("<tbody>")[1].split("</tbody>")[0].count("<tr>") == EMAIL_MAX_ROWS
    assert "ほか 9,950 台（全件は添付の ZIP ファイル内の CSV をご覧ください）" in text
    assert "ほか 9,950 台（全件は添付の ZIP ファイル内の CSV をご覧ください）" in html
    # a CSV of 10,000 VMs (about 1.9 MB) travels zipped: Graph's sendMail takes at most 4 MB, base64 included
    assert [p.get_content_type() for p in parsed.iter_attachments()] == ["application/zip"]
    assert len(base64.b64encode(message.body)) < 400_000

    filename, data = csv_attachment(parsed)
    assert filename == "affected-vms-XY12-3ZQ.csv"
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "VM 名", "リソースグループ", "サブスクリプション", "場所", "メンテナンスの状態",
        "セルフサービス開始 (UTC)", "セルフサービス開始 (JST)", "セルフサービス終了 (UTC)", "セルフサービス終了 (JST)",
        "予定メンテナンス開始 (UTC)", "予定メンテナンス開始 (JST)", "予定メンテナンス終了 (UTC)", "予定メンテナンス終了 (JST)",
        "注意点", "前回の実行結果",
    ]
    assert len(rows) == 10_001
    assert [r[0] for r in rows[1:]] == names
    first = rows[1]
    assert first[:5] == [names[0], n.enriched.vms[0].vm.resource_group, n.enriched.vms[0].vm.subscription_id, "japaneast", "今すぐ開始"]
    assert first[5:13] == ["2026-01-06T00:00:00Z", "2026-01-06 09:00", "2026-01-23T07:30:00Z", "2026-01-23 16:30",
                           "2026-01-24T15:00:00Z", "2026-01-25 00:00", "2026-01-25T03:00:00Z", "2026-01-25 12:00"]
    states = {r[4] for r in rows[1:]}
    assert states == {"今すぐ開始", "今すぐやり直す（Retry now）", "スケジュール済み", "後で再試行（Retry later）", "更新済み",
                      "状態不明（停止済み (割り当て解除)）", "－（今回の対象外）"}


def test_csv_in_english_and_both():
    en = csv_attachment(parse_email(mail(f.ten_thousand(), "en").body))[1].decode("utf-8-sig")
    assert en.startswith("VM name,Resource group,Subscription,Location,Maintenance status,")
    assert not JAPANESE.search(en)
    both = csv_attachment(parse_email(mail(f.ten_thousand(), "both").body))[1].decode("utf-8-sig")
    assert both.startswith("VM 名 / VM name,リソースグループ / Resource group,")


def test_a_csv_under_a_megabyte_is_attached_as_it_is():
    n = f.notification(vms=f.many_vms(EMAIL_MAX_ROWS + 10))
    parsed = parse_email(mail(n, "en").body)
    (part,) = parsed.iter_attachments()
    assert part.get_content_type() == "text/csv" and part.get_filename() == "affected-vms-XY12-3ZQ.csv"
    assert "and 10 more (all of them are in the attached CSV)" in email_parts(parsed)[0]


def test_the_zip_is_the_same_bytes_each_time():
    assert mail(f.ten_thousand(), "en").body == mail(f.ten_thousand(), "en").body  # Message-ID and all


@pytest.mark.parametrize("audience", ["oncall", "managers"])
def test_a_long_japanese_subject_keeps_its_spaces(audience):
    """Folding a long subject of encoded words could drop the space before the next word ("VM再起動")."""
    for make in (f.planned, f.rescheduled_update, f.in_progress, f.complete):
        receiver = replace(f.receiver("email"), audience=audience)
        subject = str(parse_email(render(make(), receiver).body)["Subject"])
        assert "東日本 VM 再起動 XY12-3ZQ" in subject and "Japan East VM reboot XY12-3ZQ" in subject, subject
