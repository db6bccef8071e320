"""The ``system`` and ``web`` toolsets of SPEC §11.9: ``execute_command`` and ``fetch_url`` (stdlib only).

``execute_command`` runs a shell command with the workspace as its working directory.  It is **not a
sandbox**: the command can do anything the host user can, which is why it is in the approval policy's
require set (§11.3) and the MCP worker refuses it without ``--approve-dangerous``.  What it does bound: the
working directory (checked by the workspace policy), the time (the whole process group is killed at the
limit), the output kept (64 KiB per stream), stdin (empty), and the environment (variables whose name
contains ``TOKEN``, ``PASSWORD``, ``SECRET`` or ``API_KEY`` are not passed on, so the worker's own
credentials do not leak into a command).

``fetch_url`` GETs an ``http``/``https`` URL and returns its text.  It is auto-approved (§11.3), so it must
not be a way into the host's network: every address the host name resolves to must be public
(``ipaddress.is_global``), the connection goes to the address that was checked (no second DNS lookup a
rebinding attacker could answer differently), redirects are followed by hand (at most 5) with the same
check at each hop, and the body read is bounded.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ...visualflow_compiler.nodes.workspace import WorkspacePolicy
from ._tool_workspace import resolve_tool_path

__all__ = ["FetchRefused", "SystemTools", "WebTools"]

_OUTPUT_LIMIT = 64 * 1024
_SECRET_MARKERS = ("TOKEN", "PASSWORD", "SECRET", "API_KEY")
_MAX_REDIRECTS = 5
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml", "application/javascript")


def _clip(data: bytes) -> str:
    text = data[:_OUTPUT_LIMIT].decode("utf-8", "replace")
    return text + ("\n... (output truncated)" if len(data) > _OUTPUT_LIMIT else "")


class SystemTools:
    """``execute_command`` bound to one workspace policy (see the module docstring)."""

    def __init__(self, policy: WorkspacePolicy) -> None:
        self.policy = policy

    def execute_command(
        self, command: str, working_directory: str = ".", timeout_s: float = 60.0
    ) -> dict[str, Any]:
        """Run ``command`` in a shell, in ``working_directory`` (relative to the workspace), for at most
        ``timeout_s`` seconds (1..600).  Returns ``{ok, returncode, stdout, stderr, timed_out}``; ``ok`` is
        False for a non-zero exit or a timeout."""
        if not isinstance(command, str) or not command.strip():
            raise ValueError("command must be a non-empty string")
        cwd = Path(resolve_tool_path(self.policy, working_directory, write=False, directory=True))
        if not cwd.is_dir():
            raise ValueError(f"working_directory {working_directory!r} does not exist")
        limit = min(max(float(timeout_s), 1.0), 600.0)
        env = {k: v for k, v in os.environ.items() if not any(m in k.upper() for m in _SECRET_MARKERS)}
        process = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills the children too
        )
        timed_out = False
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        return {
            "ok": process.returncode == 0 and not timed_out,
            "returncode": process.returncode,
            "stdout": _clip(stdout),
            "stderr": _clip(stderr) + (f"\n(killed after {limit:g} s)" if timed_out else ""),
            "timed_out": timed_out,
        }

    def tools(self) -> list[Any]:
        """``[execute_command]``."""
        return [self.execute_command]


class FetchRefused(ValueError):
    """The URL is not fetched: a scheme other than http(s), or a host that resolves to a non-public address."""


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked IP address, verifying the certificate of the original host name."""

    def __init__(self, host: str, ip: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """A plain HTTP connection to a checked IP address (``Host`` stays the original name)."""

    def __init__(self, host: str, ip: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class WebTools:
    """``fetch_url`` (see the module docstring).

    Args:
        allow_private: also fetch from loopback, private and link-local addresses (tests, trusted hosts).
        timeout_s: connect and read timeout, in seconds.
    """

    def __init__(self, *, allow_private: bool = False, timeout_s: float = 20.0) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s

    def _address(self, host: str, port: int) -> str:
        """The first resolved address of ``host``, after checking that every one is public."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise FetchRefused(f"cannot resolve {host!r}: {exc.strerror}") from None
        addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not self.allow_private and not ip.is_global:
                raise FetchRefused(f"{host!r} resolves to a non-public address ({ip}); not fetched")
        return addresses[0]

    def fetch_url(self, url: str, max_bytes: int = 1_000_000) -> dict[str, Any]:
        """GET ``url`` (http or https) and return ``{ok, url, status, content_type, text, truncated}``;
        ``text`` holds at most ``max_bytes`` bytes of a textual body (other types are described, not shown)."""
        limit = min(max(int(max_bytes), 1), 10_000_000)
        current = str(url).strip()
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchRefused(f"only http and https URLs are fetched, not {current!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            ip = self._address(parts.hostname, port)
            kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
            conn = kind(parts.hostname, ip, port, self.timeout_s)
            try:
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                conn.request(
                    "GET", path, headers={"User-Agent": "abstractruntime-fetch_url", "Accept": "*/*"}
                )
                response = conn.getresponse()
                location = response.getheader("Location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    current = urljoin(current, location)
                    continue
                body = response.read(limit + 1)
                content_type = response.getheader("Content-Type", "") or ""
                status = response.status
            finally:
                conn.close()
            textual = content_type.lower().startswith(_TEXT_TYPES) or not content_type
            text = (
                body[:limit].decode("utf-8", "replace") if textual else f"({content_type} content not shown)"
            )
            result = {
                "ok": status < 400,
                "url": current,
                "status": status,
                "content_type": content_type,
                "text": text,
                "truncated": len(body) > limit,
            }
            if status >= 400:
                result["error"] = f"HTTP {status}"
            return result
        raise FetchRefused(f"more than {_MAX_REDIRECTS} redirects")

    def tools(self) -> list[Any]:
        """``[fetch_url]``."""
        return [self.fetch_url]
