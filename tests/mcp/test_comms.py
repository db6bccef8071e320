"""Comms toolsets (SPEC §11.9): gating, approval, and the real senders against local fakes."""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from worker_helpers import COMMS_FLAGS, FakeIMAP, FakeSMTP

from abstractruntime.integrations.abstractcore import default_tools as dt
from abstractruntime.integrations.abstractcore.comms_email import EmailConfigError, EmailTools
from abstractruntime.integrations.abstractcore.comms_messaging import CommsSendError, MessagingTools
from abstractruntime.integrations.abstractcore.tool_executor import (
    ApprovalToolExecutor,
    MappingToolExecutor,
    ToolApprovalPolicy,
)

SENDERS = ("send_email", "send_whatsapp_message", "send_telegram_message")
BOT_TOKEN = "123456:SECRET-bot-token"
WA_TOKEN = "EAAG-secret-access-token"


@pytest.fixture(autouse=True)
def no_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in COMMS_FLAGS:
        monkeypatch.delenv(name, raising=False)


def smtp_env(smtp: FakeSMTP, **extra: str) -> dict[str, str]:
    return {
        "ABSTRACT_EMAIL_SMTP_HOST": "127.0.0.1",
        "ABSTRACT_EMAIL_SMTP_PORT": str(smtp.port),
        "ABSTRACT_EMAIL_SMTP_SECURITY": "none",
        "ABSTRACT_EMAIL_FROM": "Bot <bot@example.org>",
        **extra,
    }


def test_comms_toolset_absent_by_default(ws: Path) -> None:
    assert list(dt.get_default_toolsets(workspace_root=str(ws))) == ["files"]
    assert not set(SENDERS) & set(dt.build_default_tool_map(workspace_root=str(ws)))


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("ABSTRACT_ENABLE_EMAIL_TOOLS", ["list_email_accounts", "list_emails", "read_email", "send_email"]),
        ("ABSTRACT_ENABLE_TELEGRAM_TOOLS", ["send_telegram_message"]),
        ("ABSTRACT_ENABLE_WHATSAPP_TOOLS", ["send_whatsapp_message"]),
        (
            "ABSTRACT_ENABLE_COMMS_TOOLS",
            [*sorted(["list_email_accounts", "list_emails", "read_email"]), *SENDERS],
        ),
    ],
)
def test_each_flag_enables_its_channel(
    monkeypatch: pytest.MonkeyPatch, ws: Path, flag: str, expected: list[str]
) -> None:
    monkeypatch.setenv(flag, "on")
    toolsets = dt.get_default_toolsets(workspace_root=str(ws))
    assert sorted(t.__name__ for t in toolsets["comms"]["tools"]) == sorted(expected)
    assert set(expected) <= set(dt.build_default_tool_map(workspace_root=str(ws)))


def test_sending_needs_approval_under_the_default_policy(monkeypatch: pytest.MonkeyPatch, ws: Path) -> None:
    monkeypatch.setenv("ABSTRACT_ENABLE_COMMS_TOOLS", "1")
    policy = ToolApprovalPolicy()
    assert all(policy.call_requires_approval({"name": name}) for name in SENDERS)
    executor = ApprovalToolExecutor(
        delegate=MappingToolExecutor(dt.build_default_tool_map(workspace_root=str(ws)))
    )
    call = {"id": "c1", "name": "send_telegram_message", "arguments": {"chat_id": "1", "text": "hi"}}
    outcome = executor.execute(tool_calls=[call])
    assert outcome["mode"] == "approval_required" and outcome["wait_reason"] == "user"


def test_send_email_delivers_over_smtp(smtp: FakeSMTP) -> None:
    tools = EmailTools(smtp_env(smtp))
    result = tools.send_email(
        to="alice@example.org, Bob <bob@example.org>",
        subject="Weekly report",
        body="All green.",
        bcc=["c@x.org"],
    )
    assert result["ok"] is True and result["recipients"] == [
        "alice@example.org",
        "bob@example.org",
        "c@x.org",
    ]
    [received] = smtp.messages
    assert received["from"] == "bot@example.org"
    assert received["to"] == ["alice@example.org", "bob@example.org", "c@x.org"]
    message = email.message_from_bytes(received["data"], policy=email.policy.default)  # type: ignore[arg-type]
    assert message["Subject"] == "Weekly report" and message["To"] == "alice@example.org, bob@example.org"
    assert message["Bcc"] is None  # blind copies are not in the headers
    assert message.get_content().strip() == "All green."
    assert message["Message-ID"] == result["message_id"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"to": "alice@example.org\r\nBcc: victim@example.org"}, "line breaks"),
        ({"to": "not-an-address"}, "invalid address"),
        ({"to": ""}, "at least one recipient"),
        ({"to": "a@example.org", "cc": "x\ny@example.org"}, "line breaks"),
    ],
)
def test_send_email_refuses_bad_recipients(smtp: FakeSMTP, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        EmailTools(smtp_env(smtp)).send_email(subject="s", body="b", **kwargs)
    assert smtp.messages == []


def test_subject_header_injection_is_refused(smtp: FakeSMTP) -> None:
    with pytest.raises(ValueError):
        EmailTools(smtp_env(smtp)).send_email(
            to="a@example.org", subject="Hi\r\nBcc: victim@example.org", body="b"
        )
    assert smtp.messages == []


def test_email_needs_its_server_from_the_environment() -> None:
    tools = EmailTools({})
    with pytest.raises(EmailConfigError, match="ABSTRACT_EMAIL_SMTP_HOST"):
        tools.send_email(to="a@example.org", subject="s", body="b")
    with pytest.raises(EmailConfigError, match="ABSTRACT_EMAIL_IMAP_HOST"):
        tools.list_emails()
    assert tools.list_email_accounts() == []


def test_account_listing_has_no_secrets(smtp: FakeSMTP) -> None:
    env = smtp_env(smtp, ABSTRACT_EMAIL_USERNAME="bot", ABSTRACT_EMAIL_PASSWORD="hunter2")
    [account] = EmailTools(env).list_email_accounts()
    assert account["can_send"] is True and account["can_read"] is False
    assert "hunter2" not in json.dumps(account)


def test_credentials_are_not_tool_arguments(
    ws: Path, monkeypatch: pytest.MonkeyPatch, smtp: FakeSMTP
) -> None:
    """A call cannot point the sender at another server or account: unknown arguments are dropped."""
    monkeypatch.setenv("ABSTRACT_ENABLE_EMAIL_TOOLS", "1")
    for key, value in smtp_env(smtp).items():
        monkeypatch.setenv(key, value)
    executor = MappingToolExecutor(dt.build_default_tool_map(workspace_root=str(ws)))
    arguments = {
        "to": "a@example.org",
        "subject": "s",
        "body": "b",
        "smtp_host": "evil.example",
        "password": "x",
    }
    [result] = executor.execute(tool_calls=[{"id": "1", "name": "send_email", "arguments": arguments}])[
        "results"
    ]
    assert result["success"] is True and len(smtp.messages) == 1


def imap_tools(imap: FakeIMAP, password: str = "hunter2") -> EmailTools:
    env = {
        "ABSTRACT_EMAIL_IMAP_HOST": "127.0.0.1",
        "ABSTRACT_EMAIL_IMAP_PORT": str(imap.port),
        "ABSTRACT_EMAIL_IMAP_SECURITY": "none",
        "ABSTRACT_EMAIL_USERNAME": "bot@example.org",
        "ABSTRACT_EMAIL_PASSWORD": password,
    }
    return EmailTools(env)


def test_list_emails_newest_first_read_only(imap: FakeIMAP) -> None:
    listed = imap_tools(imap).list_emails(limit=5)
    assert [(m["uid"], m["subject"], m["from"]) for m in listed] == [
        ("7", "Invoice", "Bob <bob@example.org>"),
        ("3", "Lunch?", "Alice <alice@example.org>"),
    ]
    assert imap_tools(imap).list_emails(limit=1)[0]["uid"] == "7"
    assert imap.logins[0] == ("bot@example.org", "hunter2")
    # opened read-only, headers peeked: nothing is marked as seen
    assert "EXAMINE" in imap.commands and "SELECT" not in imap.commands and "UID STORE" not in imap.commands


def test_read_email_returns_the_text_part(imap: FakeIMAP) -> None:
    message = imap_tools(imap).read_email(uid="7")
    assert message["subject"] == "Invoice" and message["from"] == "Bob <bob@example.org>"
    assert message["body"].strip() == "Please pay 10 EUR."
    assert imap_tools(imap).read_email(uid="3")["body"].strip() == "Noon at the usual place."


def test_read_email_refusals(imap: FakeIMAP) -> None:
    tools = imap_tools(imap)
    with pytest.raises(LookupError, match="uid 99"):
        tools.read_email(uid="99")
    with pytest.raises(ValueError, match="uid must be a number"):
        tools.read_email(uid="1:*")
    with pytest.raises(ValueError, match="folder"):
        tools.list_emails(folder='INBOX" DELETE "x')
    with pytest.raises(imaplib.IMAP4.error, match="select failed"):
        tools.list_emails(folder="Archive")


def test_imap_login_failure_is_an_error_without_the_password(imap: FakeIMAP) -> None:
    tools = imap_tools(imap, password="wrong")
    with pytest.raises(imaplib.IMAP4.error, match="invalid credentials") as caught:
        tools.list_emails()
    assert "wrong" not in str(caught.value) and imap.commands == ["CAPABILITY", "LOGIN"]


class Recorder:
    """An httpx MockTransport handler that records requests and answers with a scripted response."""

    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)


def telegram(recorder: Any, **env: str) -> MessagingTools:
    base = {"ABSTRACT_TELEGRAM_BOT_TOKEN": BOT_TOKEN, **env}
    return MessagingTools(base, transport=httpx.MockTransport(recorder))


def test_telegram_send_calls_the_bot_api() -> None:
    recorder = Recorder(200, {"ok": True, "result": {"message_id": 42}})
    result = telegram(recorder).send_telegram_message(chat_id="-100123", text="Build passed")
    assert result == {"ok": True, "channel": "telegram", "chat_id": "-100123", "message_id": 42}
    [request] = recorder.requests
    assert str(request.url) == f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage"
    assert json.loads(request.content) == {"chat_id": "-100123", "text": "Build passed"}


def test_telegram_errors_do_not_leak_the_token() -> None:
    refused = Recorder(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    with pytest.raises(CommsSendError, match="chat not found") as caught:
        telegram(refused).send_telegram_message(chat_id="1", text="x")
    assert BOT_TOKEN not in str(caught.value)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    with pytest.raises(CommsSendError, match="unreachable") as caught:
        telegram(unreachable).send_telegram_message(chat_id="1", text="x")
    assert BOT_TOKEN not in str(caught.value) and caught.value.__cause__ is None


def test_telegram_needs_its_token_and_text() -> None:
    with pytest.raises(CommsSendError, match="ABSTRACT_TELEGRAM_BOT_TOKEN"):
        MessagingTools({}).send_telegram_message(chat_id="1", text="x")
    recorder = Recorder(200, {"ok": True, "result": {}})
    with pytest.raises(ValueError, match="empty"):
        telegram(recorder).send_telegram_message(chat_id="1", text="  ")
    with pytest.raises(ValueError, match="longer"):
        telegram(recorder).send_telegram_message(chat_id="1", text="x" * 5000)
    assert recorder.requests == []


def whatsapp(recorder: Any) -> MessagingTools:
    env = {
        "ABSTRACT_WHATSAPP_ACCESS_TOKEN": WA_TOKEN,
        "ABSTRACT_WHATSAPP_PHONE_NUMBER_ID": "1055",
        "ABSTRACT_WHATSAPP_API_BASE": "https://graph.test/v21.0/",
    }
    return MessagingTools(env, transport=httpx.MockTransport(recorder))


def test_whatsapp_send_calls_the_cloud_api() -> None:
    recorder = Recorder(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.ABC"}]})
    result = whatsapp(recorder).send_whatsapp_message(to="+33 612345678", text="On my way")
    assert result == {"ok": True, "channel": "whatsapp", "to": "33612345678", "message_id": "wamid.ABC"}
    [request] = recorder.requests
    assert str(request.url) == "https://graph.test/v21.0/1055/messages"
    assert request.headers["Authorization"] == f"Bearer {WA_TOKEN}"
    sent = json.loads(request.content)
    assert sent["to"] == "33612345678" and sent["type"] == "text" and sent["text"]["body"] == "On my way"


def test_whatsapp_refusals() -> None:
    refused = Recorder(401, {"error": {"message": "Invalid OAuth access token", "code": 190}})
    with pytest.raises(CommsSendError, match="HTTP 401: Invalid OAuth") as caught:
        whatsapp(refused).send_whatsapp_message(to="33612345678", text="x")
    assert WA_TOKEN not in str(caught.value)
    with pytest.raises(ValueError, match="international format"):
        whatsapp(refused).send_whatsapp_message(to="call me", text="x")
    with pytest.raises(CommsSendError, match="not configured"):
        MessagingTools({}).send_whatsapp_message(to="33612345678", text="x")
