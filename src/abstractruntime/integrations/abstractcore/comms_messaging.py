"""Telegram and WhatsApp senders of the ``comms`` toolset (SPEC §11.9), over their HTTP APIs with httpx.

Credentials come **only from the environment**, read at each call (never from tool arguments or flows):

* Telegram Bot API: ``ABSTRACT_TELEGRAM_BOT_TOKEN`` (required), ``ABSTRACT_TELEGRAM_API_BASE`` (default
  ``https://api.telegram.org``).  ``send_telegram_message(chat_id, text)`` calls ``sendMessage``.
* WhatsApp Cloud API: ``ABSTRACT_WHATSAPP_ACCESS_TOKEN`` and ``ABSTRACT_WHATSAPP_PHONE_NUMBER_ID``
  (required), ``ABSTRACT_WHATSAPP_API_BASE`` (default ``https://graph.facebook.com/v21.0``).
  ``send_whatsapp_message(to, text)`` posts a text message to ``/<phone number id>/messages``.

Both senders are in the approval policy's require set (§11.3).  Tokens never appear in results or errors:
the Telegram token is part of the URL, so transport errors are reported without the URL.  httpx comes with
the ``mcp-worker`` extra (also ``llm``); without it a send raises ``MissingExtraError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ...errors import MissingExtraError

__all__ = ["CommsSendError", "MessagingTools", "telegram_tools", "whatsapp_tools"]

_MAX_TEXT = 4096


class CommsSendError(RuntimeError):
    """The channel is not configured, or its API refused or failed the send (message without secrets)."""


def _text(text: str) -> str:
    value = str(text)
    if not value.strip():
        raise ValueError("text must not be empty")
    if len(value) > _MAX_TEXT:
        raise ValueError(f"text is longer than {_MAX_TEXT} characters")
    return value


class MessagingTools:
    """Telegram and WhatsApp send tools.

    Args:
        env: where the variables are read (default ``os.environ``, read per call).
        transport: an ``httpx.BaseTransport`` for the client (tests pass ``httpx.MockTransport``).
        timeout_s: HTTP timeout in seconds.
    """

    def __init__(
        self, env: Mapping[str, str] | None = None, *, transport: Any = None, timeout_s: float = 30.0
    ) -> None:
        self._env = env
        self._transport = transport
        self.timeout_s = timeout_s

    def _get(self, name: str, default: str = "") -> str:
        env = os.environ if self._env is None else self._env
        return str(env.get(name, default)).strip()

    def _post(self, channel: str, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST JSON and return the decoded answer; errors as :class:`CommsSendError` without the URL."""
        try:
            import httpx
        except ImportError as exc:
            raise MissingExtraError(
                feature=f"The {channel} tools", extra="mcp-worker", module="httpx"
            ) from exc
        try:
            with httpx.Client(transport=self._transport, timeout=self.timeout_s) as client:
                response = client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:  # its message may carry the URL (the Telegram token): not echoed
            raise CommsSendError(f"{channel} API unreachable ({type(exc).__name__})") from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict):
            detail = _api_error(data)
            raise CommsSendError(f"{channel} API refused the message: HTTP {response.status_code}{detail}")
        return data

    def send_telegram_message(self, chat_id: str, text: str) -> dict[str, Any]:
        """Send ``text`` to the Telegram chat ``chat_id`` with the configured bot.

        Returns ``{ok, channel, chat_id, message_id}``.  Raises CommsSendError (not configured, or refused).
        """
        token = self._get("ABSTRACT_TELEGRAM_BOT_TOKEN")
        if not token:
            raise CommsSendError("Telegram is not configured: set ABSTRACT_TELEGRAM_BOT_TOKEN")
        if not str(chat_id).strip():
            raise ValueError("chat_id must not be empty")
        base = self._get("ABSTRACT_TELEGRAM_API_BASE", "https://api.telegram.org").rstrip("/")
        data = self._post(
            "Telegram",
            f"{base}/bot{token}/sendMessage",
            {"chat_id": str(chat_id).strip(), "text": _text(text)},
            {},
        )
        if data.get("ok") is not True:
            raise CommsSendError(f"Telegram API refused the message{_api_error(data)}")
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
        return {
            "ok": True,
            "channel": "telegram",
            "chat_id": str(chat_id).strip(),
            "message_id": result.get("message_id"),
        }

    def send_whatsapp_message(self, to: str, text: str) -> dict[str, Any]:
        """Send ``text`` to the WhatsApp number ``to`` (international format, digits) via the Cloud API.

        Returns ``{ok, channel, to, message_id}``.  Raises CommsSendError (not configured, or refused),
        ValueError (a malformed number or text).
        """
        token = self._get("ABSTRACT_WHATSAPP_ACCESS_TOKEN")
        phone_id = self._get("ABSTRACT_WHATSAPP_PHONE_NUMBER_ID")
        if not token or not phone_id:
            raise CommsSendError(
                "WhatsApp is not configured: set ABSTRACT_WHATSAPP_ACCESS_TOKEN and ABSTRACT_WHATSAPP_PHONE_NUMBER_ID"
            )
        number = str(to).strip().lstrip("+").replace(" ", "")
        if not number.isdigit() or not 6 <= len(number) <= 15:
            raise ValueError(f"to must be a phone number in international format, not {to!r}")
        base = self._get("ABSTRACT_WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0").rstrip("/")
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": number,
            "type": "text",
            "text": {"preview_url": False, "body": _text(text)},
        }
        data = self._post(
            "WhatsApp", f"{base}/{phone_id}/messages", payload, {"Authorization": f"Bearer {token}"}
        )
        messages = data.get("messages")
        message_id = messages[0].get("id") if isinstance(messages, list) and messages else None
        return {"ok": True, "channel": "whatsapp", "to": number, "message_id": message_id}


def _api_error(data: Any) -> str:
    """``": <description>"`` from a Telegram (``description``) or Graph (``error.message``) error body."""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    message = data.get("description") or (error.get("message") if isinstance(error, dict) else None)
    return f": {str(message)[:300]}" if message else ""


def telegram_tools(env: Mapping[str, str] | None = None, *, transport: Any = None) -> list[Any]:
    """The Telegram tools of the ``comms`` toolset: ``send_telegram_message``."""
    return [MessagingTools(env, transport=transport).send_telegram_message]


def whatsapp_tools(env: Mapping[str, str] | None = None, *, transport: Any = None) -> list[Any]:
    """The WhatsApp tools of the ``comms`` toolset: ``send_whatsapp_message``."""
    return [MessagingTools(env, transport=transport).send_whatsapp_message]
