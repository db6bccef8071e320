"""E-mail tools of the ``comms`` toolset (SPEC §11.9): send over SMTP, list and read over IMAP (stdlib only).

Credentials and servers come **only from the environment**, read at each call (never from tool arguments,
flows or run vars):

===============================  =====================================================================
``ABSTRACT_EMAIL_SMTP_HOST``     SMTP server (required to send)
``ABSTRACT_EMAIL_SMTP_PORT``     default 587 (``starttls``), 465 (``ssl``), 25 (``none``)
``ABSTRACT_EMAIL_SMTP_SECURITY`` ``starttls`` (default), ``ssl`` or ``none`` (plain text; for local relays)
``ABSTRACT_EMAIL_IMAP_HOST``     IMAP server (required to list and read)
``ABSTRACT_EMAIL_IMAP_PORT``     default 993 (``ssl``), 143 (``starttls``/``none``)
``ABSTRACT_EMAIL_IMAP_SECURITY`` ``ssl`` (default), ``starttls`` or ``none``
``ABSTRACT_EMAIL_USERNAME``      login for both servers (no login when unset)
``ABSTRACT_EMAIL_PASSWORD``      its password
``ABSTRACT_EMAIL_FROM``          the sender address (default: the username)
``ABSTRACT_EMAIL_ACCOUNT``       the account's display name (default ``default``)
===============================  =====================================================================

``send_email`` is in the approval policy's require set (§11.3): under an :class:`ApprovalToolExecutor` or
the MCP worker it runs only after a human approved it (or the operator passed ``--approve-dangerous``).
Errors never contain the password.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from typing import Any

__all__ = ["EmailConfigError", "EmailTools", "email_tools"]

_MAX_BODY_CHARS = 200_000


class EmailConfigError(RuntimeError):
    """The environment does not configure the server this e-mail tool needs."""


def _addresses(value: str | list[str] | None, field: str) -> list[str]:
    """Validated addresses from a comma-separated string or a list.

    Raises:
        ValueError: a value with a line break or without ``@``.
    """
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    joined = [str(item) for item in items]
    if any("\r" in item or "\n" in item for item in joined):
        raise ValueError(f"{field}: line breaks are not allowed in addresses")
    found = [addr for _name, addr in getaddresses(joined) if addr]
    bad = [addr for addr in found if "@" not in addr]
    if bad or not found:
        raise ValueError(f"{field}: invalid address {', '.join(bad) or joined!r}")
    return found


class EmailTools:
    """The e-mail tools over one account configured by ``env`` (default: ``os.environ``, read per call).

    Args:
        env: where the ``ABSTRACT_EMAIL_*`` variables are read (tests pass a dict).
        timeout_s: socket timeout of the SMTP and IMAP connections, in seconds.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, timeout_s: float = 30.0) -> None:
        self._env = env
        self.timeout_s = timeout_s

    def _get(self, name: str, default: str = "") -> str:
        env = os.environ if self._env is None else self._env
        return str(env.get(f"ABSTRACT_EMAIL_{name}", default)).strip()

    def _server(self, kind: str, default_security: str) -> tuple[str, int, str]:
        host = self._get(f"{kind}_HOST")
        if not host:
            raise EmailConfigError(f"e-mail is not configured: set ABSTRACT_EMAIL_{kind}_HOST")
        security = self._get(f"{kind}_SECURITY", default_security).lower()
        if security not in ("ssl", "starttls", "none"):
            raise EmailConfigError(f"ABSTRACT_EMAIL_{kind}_SECURITY must be ssl, starttls or none")
        ports = {
            "SMTP": {"ssl": 465, "starttls": 587, "none": 25},
            "IMAP": {"ssl": 993, "starttls": 143, "none": 143},
        }
        port_text = self._get(f"{kind}_PORT")
        if port_text and not port_text.isdigit():
            raise EmailConfigError(f"ABSTRACT_EMAIL_{kind}_PORT must be a number")
        return host, int(port_text) if port_text else ports[kind][security], security

    def list_email_accounts(self) -> list[dict[str, Any]]:
        """The configured account (no secrets): ``[{account, from, smtp_host, imap_host, can_send, can_read}]``."""
        smtp_host, imap_host = self._get("SMTP_HOST"), self._get("IMAP_HOST")
        if not smtp_host and not imap_host:
            return []
        return [
            {
                "account": self._get("ACCOUNT", "default"),
                "from": self._get("FROM") or self._get("USERNAME"),
                "smtp_host": smtp_host or None,
                "imap_host": imap_host or None,
                "can_send": bool(smtp_host),
                "can_read": bool(imap_host),
            }
        ]

    def send_email(
        self,
        to: str | list[str],
        subject: str,
        body: str,
        *,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Send a plain-text e-mail from the configured account over SMTP.

        Returns ``{ok, message_id, recipients}``.  Raises EmailConfigError (no SMTP server), ValueError
        (bad addresses) or an ``smtplib``/``OSError`` error from the server.
        """
        recipients = _addresses(to, "to")
        if not recipients:
            raise ValueError("to: at least one recipient is needed")
        copies, hidden = _addresses(cc, "cc"), _addresses(bcc, "bcc")
        self._server("SMTP", "starttls")  # configured at all? (checked again when connecting)
        sender = self._get("FROM") or self._get("USERNAME")
        if not sender:
            raise EmailConfigError(
                "e-mail is not configured: set ABSTRACT_EMAIL_FROM or ABSTRACT_EMAIL_USERNAME"
            )
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        if copies:
            message["Cc"] = ", ".join(copies)
        if reply_to:
            message["Reply-To"] = ", ".join(_addresses(reply_to, "reply_to"))
        message["Subject"] = str(subject)
        message["Message-ID"] = make_msgid()
        message.set_content(str(body))
        everyone = [*recipients, *copies, *hidden]
        with self._smtp() as smtp:
            refused = smtp.send_message(message, from_addr=sender, to_addrs=everyone)
        accepted = [r for r in everyone if r not in refused]
        return {"ok": bool(accepted), "message_id": message["Message-ID"], "recipients": accepted}

    def _smtp(self) -> smtplib.SMTP:
        """A connected (and logged-in, when a username is set) SMTP client; closed again on any failure."""
        host, port, security = self._server("SMTP", "starttls")
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=self.timeout_s, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=self.timeout_s)
        try:
            if security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            username = self._get("USERNAME")
            if username:
                smtp.login(username, self._get("PASSWORD"))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _imap(self) -> imaplib.IMAP4:
        """A connected (and logged-in, when a username is set) IMAP client; shut down again on any failure."""
        host, port, security = self._server("IMAP", "ssl")
        imap: imaplib.IMAP4
        if security == "ssl":
            imap = imaplib.IMAP4_SSL(
                host, port, ssl_context=ssl.create_default_context(), timeout=self.timeout_s
            )
        else:
            imap = imaplib.IMAP4(host, port, timeout=self.timeout_s)
        try:
            if security == "starttls":
                imap.starttls(ssl_context=ssl.create_default_context())
            username = self._get("USERNAME")
            if username:
                imap.login(username, self._get("PASSWORD"))
        except BaseException:
            imap.shutdown()
            raise
        return imap

    def list_emails(
        self, folder: str = "INBOX", limit: int = 20, unseen_only: bool = False
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` messages of ``folder``: ``[{uid, from, subject, date}]``, newest first.

        Read-only (the folder is opened with EXAMINE; nothing is marked as seen).
        """
        imap = self._imap()
        try:
            _check(imap.select(_quote(folder), readonly=True), "select")
            data = _check(imap.uid("SEARCH", "UNSEEN" if unseen_only else "ALL"), "search")
            uids = (data[0] or b"").split()[-max(1, int(limit)) :]
            listed: list[dict[str, Any]] = []
            for uid in reversed(uids):
                message = self._fetch(imap, uid.decode(), "BODY.PEEK[HEADER]")
                listed.append(
                    {
                        "uid": uid.decode(),
                        "from": message["From"],
                        "subject": message["Subject"],
                        "date": message["Date"],
                    }
                )
            return listed
        finally:
            _logout(imap)

    def read_email(self, uid: str, folder: str = "INBOX") -> dict[str, Any]:
        """One message by IMAP ``uid``: ``{uid, from, to, cc, subject, date, body}`` (the text part).

        Read-only (BODY.PEEK; the message is not marked as seen).
        """
        if not str(uid).strip().isdigit():
            raise ValueError(f"uid must be a number, not {uid!r}")
        imap = self._imap()
        try:
            _check(imap.select(_quote(folder), readonly=True), "select")
            message = self._fetch(imap, str(uid).strip(), "BODY.PEEK[]")
        finally:
            _logout(imap)
        part = message.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        return {
            "uid": str(uid).strip(),
            "from": message["From"],
            "to": message["To"],
            "cc": message["Cc"],
            "subject": message["Subject"],
            "date": message["Date"],
            "body": text[:_MAX_BODY_CHARS],
        }

    @staticmethod
    def _fetch(imap: imaplib.IMAP4, uid: str, what: str) -> Any:
        data = _check(imap.uid("FETCH", uid, f"({what})"), "fetch")
        raw = next((item[1] for item in data if isinstance(item, tuple)), None)
        if raw is None:
            raise LookupError(f"no message with uid {uid}")
        return email.message_from_bytes(raw, policy=email.policy.default)

    def tools(self) -> list[Any]:
        """The bound tool methods: list_email_accounts, send_email, list_emails, read_email."""
        return [self.list_email_accounts, self.send_email, self.list_emails, self.read_email]


def _quote(folder: str) -> str:
    if any(c in folder for c in '\r\n"\\'):
        raise ValueError("folder: quotes, backslashes and line breaks are not allowed")
    return f'"{folder}"'


def _check(response: tuple[str, list[Any]], step: str) -> list[Any]:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"IMAP {step} failed: {data!r}")
    return data


def _logout(imap: imaplib.IMAP4) -> None:
    try:
        imap.logout()
    except (imaplib.IMAP4.error, OSError):
        return


def email_tools(env: Mapping[str, str] | None = None) -> list[Any]:
    """The e-mail tools of the ``comms`` toolset (see :class:`EmailTools`)."""
    return EmailTools(env).tools()
