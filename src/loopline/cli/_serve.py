"""The `serve` and `keys` commands: run the HTTP server on a store, and manage its API keys.

`serve` runs `loopline.server` under uvicorn until Ctrl-C or SIGTERM, and says at start whether the
database has API keys (without any, only clients on this machine are served). `keys create` prints a
new key once (only its hash is stored: it cannot be shown again); `keys list` never shows a secret;
`keys revoke` stops a key at once in every server on the database.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import MissingExtraError
from ..store import Store, key_table
from . import _json, _render
from ._commands import CommandError, Subcommands, _positive

__all__ = ["add_keys", "add_serve"]


def add_serve(commands: Subcommands) -> None:
    """Register `serve` on the top-level subparsers."""
    parser = commands.add_parser(
        "serve", help="run the HTTP server (tasks, events over SSE, threads, executions, remote workers)",
        description="Serve the store over HTTP until Ctrl-C or SIGTERM: the API under /v1, its OpenAPI schema at "
                    "/openapi.json and docs at /docs, the dashboard at /. Requests carry an API key (`loopline keys "
                    "create`); while the database has none, only clients on this machine are served. Several "
                    "servers on one PostgreSQL database serve the same tasks.")
    parser.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS,
                        help="the store: a SQLite file (created if missing) or a postgresql:// URL "
                             "(default: $LOOPLINE_DB, else the user data file)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    parser.add_argument("--no-relay", action="store_true",
                        help="do not hand tasks to remote workers from this process (another server does)")
    parser.add_argument("--max-body-bytes", type=_positive, default=1_048_576, metavar="N",
                        help="refuse request bodies over N bytes with 413 (default 1 MiB)")
    parser.add_argument("--rate", type=_rate, default=50.0, metavar="R",
                        help="requests a second each API key (without keys, each client address) may make on "
                             "average; 0 turns the limit off (default 50)")
    parser.add_argument("--burst", type=_positive, default=100, metavar="N",
                        help="requests a key may make at once above its rate (default 100)")
    parser.add_argument("--sse-heartbeat", type=_positive_seconds, default=15.0, metavar="S",
                        help="seconds between keep-alive comments on an idle event stream (default 15)")
    parser.set_defaults(handler=_serve, creates=True)


def add_keys(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    """Register `keys create`, `keys list` and `keys revoke` on the top-level subparsers."""
    group = commands.add_parser("keys", help="make, list and revoke the server's API keys",
                                description="API keys: each belongs to one organisation, whose tasks, threads and "
                                            "executions are all it sees. Only a hash of each key is stored.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="make a key and print it (once)")
    create.add_argument("--org", required=True, metavar="ORG", help="the organisation the key acts for")
    create.add_argument("--name", default="", metavar="N", help="what the key is for (shown by `keys list`)")
    create.set_defaults(handler=_create, creates=True)
    listing = actions.add_parser("list", parents=[common], help="the keys, oldest first (never their secrets)")
    listing.add_argument("--org", metavar="ORG", help="only this organisation's keys")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", parents=[common], help="stop a key at once, in every server")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (the 12 hex digits after `ll_`)")
    revoke.set_defaults(handler=_revoke)


def _serve(store: Store, args: argparse.Namespace) -> str:
    try:
        from ..server import ServerSettings, run
    except ImportError as exc:
        raise MissingExtraError(package=exc.name or "fastapi", extra="server") from exc

    settings = ServerSettings(database=getattr(args, "db", None), max_body_bytes=args.max_body_bytes,
                              requests_per_second=args.rate, burst=args.burst,
                              sse_heartbeat_seconds=args.sse_heartbeat, relay=not args.no_relay)
    keys = key_table(store).list()
    print(f"loopline serve: http://{args.host}:{args.port} (docs at /docs) on {store!r}", file=sys.stderr)
    if keys:
        live = [k for k in keys if k.revoked_at is None]
        orgs = sorted({k.organization_id for k in live})
        print(f"API keys: {len(live)} live ({len(keys) - len(live)} revoked) for {len(orgs)} organisation(s); "
              "every request needs one", file=sys.stderr)
    else:
        print("no API keys: serving loopback clients only (make one with `loopline keys create --org ORG`; behind "
              "a proxy on this machine that sends no X-Forwarded-For, every client looks local: make keys)",
              file=sys.stderr)
    sys.stderr.flush()
    run(settings, host=args.host, port=args.port, store=store)
    return ""


def _create(store: Store, args: argparse.Namespace) -> str:
    row, key = key_table(store).create(args.org, name=args.name)
    if args.json:
        return _json.dump({"key": key, **row.to_json()})
    return "\n".join([key, "", f"key {row.id} for organisation {row.organization_id!r}: keep it now, it is not shown "
                                "again (only its hash is stored)"])


def _list(store: Store, args: argparse.Namespace) -> str:
    keys = key_table(store).list(args.org)
    if args.json:
        return _json.dump({"keys": [k.to_json() for k in keys]})
    if not keys:
        return "no API keys"
    rows = ([k.id, k.organization_id, k.name or "-", _render.timestamp(k.created_at),
             "-" if k.last_used_at is None else _render.timestamp(k.last_used_at),
             "live" if k.revoked_at is None else f"revoked {_render.timestamp(k.revoked_at)}"] for k in keys)
    return "\n".join(_render.table(["ID", "ORGANISATION", "NAME", "CREATED", "LAST USED", "STATE"], rows))


def _revoke(store: Store, args: argparse.Namespace) -> str:
    row = key_table(store).revoke(args.key_id)
    if row is None:
        raise CommandError(f"no API key with id {args.key_id!r} (see `loopline keys list`)")
    if args.json:
        return _json.dump(row.to_json())
    return f"revoked key {row.id} of organisation {row.organization_id!r}"


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = _rate(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value
