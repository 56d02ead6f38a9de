"""The log redaction every process installs, checked against the suite's own secret scanner."""
import logging

import pytest

from relay.runtime.redact import install, redact
from tests.logscan import scan

SECRETS = {
    "workflow signature": "https://prod-01.japaneast.logic.azure.com/workflows/0a1b/triggers/manual/paths/invoke"
                          "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbCdEf012345_-xyz",
    "function key": "https://relay.azurewebsites.net/api/alerts?code=Zm9vYmFyYmF6cXV4MTIzNDU2==",
    "Slack token": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "Slack webhook path": "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx",
    "JWT": "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9yZWxheSJ9.c2lnbmF0dXJl",
    "storage key": "DefaultEndpointsProtocol=https;AccountName=relay;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50u==;",
    "password in a URL": "smtp://relay%40example.com:s3cret-pass@smtp.example.com:587",
}


@pytest.mark.parametrize("kind", SECRETS)
def test_the_scanner_finds_each_secret_and_the_redaction_removes_it(kind):
    assert kind in scan(SECRETS[kind])
    redacted = redact(SECRETS[kind])
    assert scan(redacted) == []
    assert "[redacted]" in redacted


def test_what_is_not_secret_stays_readable():
    text = "delivered xy12-3zq/700000000000000001 to teams: HTTP 202 from https://hooks.example.com/path?api-version=1"
    assert redact(text) == text
    assert redact("smtp://smtp.example.com:587") == "smtp://smtp.example.com:587"


def test_an_installed_redaction_covers_arguments_and_tracebacks(caplog):
    install()
    install()  # twice is once
    log = logging.getLogger("relay.test")
    with caplog.at_level(logging.INFO, logger="relay.test"):
        log.warning("posting to %s", SECRETS["workflow signature"])
        try:
            raise ConnectionError(f"cannot reach {SECRETS['Slack webhook path']}")
        except ConnectionError:
            log.exception("send failed")
    text = caplog.text
    assert "posting to https://prod-01.japaneast.logic.azure.com/workflows/0a1b" in text
    assert "ConnectionError: cannot reach https://hooks.slack.com/services/T0123ABCD/B0456EFGH/[redacted]" in text
    assert scan(text) == []
