"""Bearer tokens for the service.

Every route except `/health/*` needs `Authorization: Bearer <token>`; `/v1/admin/*` needs the
admin token instead. Tokens are read from files or the environment, compared in constant time
(`hmac.compare_digest`) and never written to any log or answer. The service refuses to listen on
an address other than loopback without a token (`check_bind`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_ENV = "CLAUSEWISE_TOKEN"
ADMIN_TOKEN_ENV = "CLAUSEWISE_ADMIN_TOKEN"
# shorter tokens are refused: they can be guessed
MIN_TOKEN_LENGTH = 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenError(Exception):
    """A token file or variable that cannot be used."""


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens the service accepts; None means that kind of access is not configured."""

    client: bytes | None
    admin: bytes | None


def read_token(path: str | None, env: str) -> bytes | None:
    """A token from a file (first line, whitespace stripped) or else from the variable `env`."""
    raw: str | None
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise TokenError(f"cannot read the token file {path}: {e}") from None
        raw = lines[0].strip() if lines else ""
        where = path
    else:
        raw = os.environ.get(env)
        if raw is None:
            return None
        raw = raw.strip()
        where = f"${env}"
    if len(raw) < MIN_TOKEN_LENGTH:
        raise TokenError(f"the token in {where} is shorter than {MIN_TOKEN_LENGTH} characters")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise TokenError(f"the token in {where} contains spaces or control characters")
    return raw.encode("utf-8")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: Tokens) -> None:
    """Refuse to listen beyond loopback without a client token."""
    if tokens.client is None and not is_loopback(host):
        raise TokenError(
            f"refusing to listen on {host} without a token: give --token-file or set "
            f"{TOKEN_ENV} (without a token the service only listens on loopback)"
        )


def _matches(header: bytes | None, token: bytes | None) -> bool:
    if token is None or header is None:
        return False
    scheme, _, given = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    # compare_digest's time depends only on the length of the secret, not on where they differ
    return hmac.compare_digest(given.strip(), token)


class BearerAuth:
    """ASGI middleware: checks the bearer token before any route runs."""

    def __init__(self, app: ASGIApp, tokens: Tokens):
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/health/"):
            await self.app(scope, receive, send)
            return
        header = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                header = v
                break
        if path.startswith("/v1/admin/"):
            if self.tokens.admin is None and self.tokens.client is None:
                allowed = True  # no tokens at all: a loopback-only service, open to this host
            elif self.tokens.admin is None:
                await _deny(send, 403, "admin_disabled", "no admin token is configured")
                return
            else:
                allowed = _matches(header, self.tokens.admin)
        else:
            allowed = self.tokens.client is None or _matches(header, self.tokens.client)
        if allowed:
            await self.app(scope, receive, send)
        elif header is None:
            await _deny(send, 401, "unauthorized", "this route needs `Authorization: Bearer`")
        else:
            await _deny(send, 401, "unauthorized", "the bearer token is not valid here")


async def _deny(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "path": "", "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="clausewise"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
