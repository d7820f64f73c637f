"""`clausewise serve`: the decision service on uvicorn (needs the `server` extra)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from ..dsl.diagnostics import PolicyError

EXIT_SETUP = 2  # the service cannot start: policies, log, tokens, address
LOG_ENV = "CLAUSEWISE_LOG"
DEFAULT_LOG = "sqlite:///clausewise-decisions.db"


def _retention(text: str | None) -> dt.timedelta | None:
    """`90d`, `12h`, `2w`...; none or `forever` keeps every decision."""
    if text is None or text.strip().lower() in ("", "forever"):
        return None
    from ..log import parse_duration

    try:
        return parse_duration(text.strip())
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--retention") from None


def describe_log_url(url: str | None) -> str:
    """The log URL as it may be shown: without a password."""
    if url is None or url == "off":
        return "off"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_SETUP)


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket before the server starts, so the address is known and taken."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
        raise  # unreachable: _fail exits
    return sock


@click.command("serve")
@click.option("--policies", default="policies", show_default=True, help="Policy root folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8181, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--log",
    "log_url",
    default=None,
    help=f"Decision log: sqlite:///PATH or postgresql://...; `off` records nothing "
    f"(default: ${LOG_ENV}, else {DEFAULT_LOG}).",
)
@click.option(
    "--retention", default=None, help="Delete logged decisions older than this (e.g. 90d)."
)
@click.option(
    "--token-file",
    default=None,
    type=click.Path(dir_okay=False),
    help="File with the bearer token clients send (default: $CLAUSEWISE_TOKEN).",
)
@click.option(
    "--admin-token-file",
    default=None,
    type=click.Path(dir_okay=False),
    help="File with the token of /v1/admin/* (default: $CLAUSEWISE_ADMIN_TOKEN).",
)
@click.option("--cert", default=None, type=click.Path(dir_okay=False), help="TLS certificate.")
@click.option("--key", default=None, type=click.Path(dir_okay=False), help="TLS private key.")
@click.option(
    "--shadow",
    "shadows",
    multiple=True,
    metavar="POLICY_ID@VERSION",
    help="Evaluate this candidate version beside the live one and log both (repeatable).",
)
@click.option(
    "--max-body-bytes", default=1024 * 1024, show_default=True, type=click.IntRange(min=64)
)
@click.option("--max-depth", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--max-batch", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--no-watch", is_flag=True, help="Do not reload when the policy files change.")
@click.option("--access-log", is_flag=True, help="Print one line per request.")
def serve_cmd(
    policies: str,
    host: str,
    port: int,
    log_url: str | None,
    retention: str | None,
    token_file: str | None,
    admin_token_file: str | None,
    cert: str | None,
    key: str | None,
    shadows: tuple[str, ...],
    max_body_bytes: int,
    max_depth: int,
    max_batch: int,
    no_watch: bool,
    access_log: bool,
) -> None:
    """Serve decisions over HTTP, each recorded in the decision log before it is answered.

    Listens on 127.0.0.1:8181 by default. Every route except /health/* needs
    `Authorization: Bearer TOKEN` once a token is given; without a token the service only
    listens on a loopback address. See docs/server.md.
    """
    try:
        import uvicorn

        from ..log import LogUnavailableError, open_log
        from ..server.app import ServiceConfig, create_app
        from ..server.auth import (
            ADMIN_TOKEN_ENV,
            TOKEN_ENV,
            TokenError,
            Tokens,
            check_bind,
            read_token,
        )
        from ..server.snapshot import SetChangedError, SnapshotHolder
    except ImportError as e:
        _fail(f"the service needs the server extra: pip install 'clausewise[server]' ({e})")
        return
    if (cert is None) != (key is None):
        _fail("TLS needs both --cert and --key")
    try:
        tokens = Tokens(
            read_token(token_file, TOKEN_ENV), read_token(admin_token_file, ADMIN_TOKEN_ENV)
        )
        check_bind(host, tokens)
    except TokenError as e:
        _fail(str(e))
        return
    keep = _retention(retention)

    shadow: dict[str, str] = {}
    for spec in shadows:
        pid, sep, version = spec.rpartition("@")
        if not sep or not pid or not version:
            raise click.BadParameter("expected POLICY_ID@VERSION", param_hint="--shadow")
        shadow[pid] = version

    holder = SnapshotHolder(policies)
    try:
        snap = holder.load_initial()
    except FileNotFoundError as e:
        _fail(str(e))
        return
    except PolicyError as e:
        click.echo(str(e), err=True)
        _fail(f"the policies in {policies} do not check; run `clausewise check {policies}`")
        return
    except SetChangedError as e:
        _fail(str(e))
        return
    for pid, version in shadow.items():
        if version not in snap.engine.store.policies.get(pid, {}):
            _fail(f"--shadow {pid}@{version}: no such policy version in {policies}")

    url = log_url if log_url is not None else os.environ.get(LOG_ENV, DEFAULT_LOG)
    shown = describe_log_url(url)
    try:
        log = open_log(None if url == "off" else url, keep)
    except Exception as e:  # a log that cannot be opened: the service must not start
        _fail(f"cannot open the decision log {shown}: {e}")
        return
    if url == "off":
        click.echo("warning: --log off: decisions are answered without being recorded", err=True)
    if tokens.client is None:
        click.echo(
            f"warning: no token (--token-file or ${TOKEN_ENV}): any program on this host "
            "can ask for decisions and read the log",
            err=True,
        )

    config = ServiceConfig(
        policies=Path(policies),
        tokens=tokens,
        max_body_bytes=max_body_bytes,
        max_depth=max_depth,
        max_batch=max_batch,
        watch=not no_watch,
        shadow=shadow,
        log_description=shown,
    )
    try:
        app = create_app(config, holder, log)  # keeps the set's files in the log
    except LogUnavailableError as e:
        log.close()
        _fail(f"cannot keep the policy set in the decision log {shown}: {e}")
        return
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    scheme = "https" if cert else "http"
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"clausewise serve: listening on {scheme}://{shown_host}:{bound_port} "
        f"({len(snap.engine.store.policies)} policies, revision {snap.revision}, log {shown})",
        err=True,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            ssl_certfile=cert,
            ssl_keyfile=key,
            log_level="warning",
            access_log=access_log,
            lifespan="on",
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        log.close()
