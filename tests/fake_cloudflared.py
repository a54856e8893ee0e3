#!/usr/bin/env python3
"""A stand-in for ``cloudflared`` (the real binary cannot be installed here), for tests.

Accepts the command lines :class:`blocks.tunnel.TunnelManager` runs::

    cloudflared tunnel --no-autoupdate --url http://127.0.0.1:PORT --metrics 127.0.0.1:MPORT
    cloudflared tunnel --no-autoupdate --metrics 127.0.0.1:MPORT run [--token T]

and behaves like cloudflared where the manager looks:

* the metrics server answers ``GET /quicktunnel`` -> ``{"hostname": "127.0.0.1:<public port>"}``
  (real: ``<words>.trycloudflare.com``) and ``GET /ready`` -> 503 until the tunnel is up, then
  200 ``{"status": 200, "readyConnections": 4}``;
* the "public" address is a loopback port that forwards every connection to the origin byte
  for byte (Range headers pass through, bodies stream);
* SIGTERM stops it cleanly.

Named tunnels (``run``) need the token (``--token`` or ``TUNNEL_TOKEN``, as cloudflared). A
real token tunnel routes by the ingress rules configured for it in Cloudflare, never by the
port of the process that started it; here they come from the environment:

* ``FAKE_CLOUDFLARED_INGRESS``: a YAML file with the ``ingress:`` list of cloudflared's
  config.yml (what the dashboard's Public Hostname form stores). Each request is routed by its
  ``Host`` header (port ignored) to the first rule whose ``hostname`` matches (``*.`` wildcards;
  no ``hostname``: catch-all); its ``service`` is ``http://host:port`` (forwarded; nothing
  listening there: 502, like cloudflared) or ``http_status:NNN`` (answered with that status);
* ``FAKE_CLOUDFLARED_LISTEN`` (``host:port``): where "Cloudflare's edge" for the public
  hostname listens.

Test knobs (environment):

* ``FAKE_CLOUDFLARED_DIE_AFTER_BYTES=N``: exit abruptly (code 3) after forwarding N response
  bytes, like a crash;
* ``FAKE_CLOUDFLARED_CUT_ONCE_AFTER_BYTES=N``: reset the connection that reaches N response
  bytes (once) and keep running, like a dropped connection;
* ``FAKE_CLOUDFLARED_READY_AFTER_SECONDS`` (default 0.3): how long ``/ready`` answers 503;
* ``FAKE_CLOUDFLARED_UNREADY_AFTER_SECONDS=S``: from S seconds after start, ``/ready`` answers
  503 for good while the process keeps running, like a tunnel that lost its edge connections;
* ``FAKE_CLOUDFLARED_RECORD=<file>``: append one JSON line per event (start, with argv and
  whether a token came; each /ready probe; die; cut; stop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import json
import os
import signal
import sys
import time
from urllib.parse import urlsplit

import yaml

READY_AFTER_SECONDS = float(os.environ.get("FAKE_CLOUDFLARED_READY_AFTER_SECONDS", "0.3"))
UNREADY_AFTER_SECONDS = float(os.environ.get("FAKE_CLOUDFLARED_UNREADY_AFTER_SECONDS", "0") or 0)
DIE_AFTER_BYTES = int(os.environ.get("FAKE_CLOUDFLARED_DIE_AFTER_BYTES", "0") or 0)
CUT_ONCE_AFTER_BYTES = int(os.environ.get("FAKE_CLOUDFLARED_CUT_ONCE_AFTER_BYTES", "0") or 0)
RECORD = os.environ.get("FAKE_CLOUDFLARED_RECORD", "")


def record(event: str, **fields: object) -> None:
    if RECORD:
        with open(RECORD, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cloudflared")
    parser.add_argument("command", choices=["tunnel"])
    parser.add_argument("--url")
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--token", default=os.environ.get("TUNNEL_TOKEN"))
    parser.add_argument("--no-autoupdate", action="store_true")
    args = parser.parse_known_args(argv)[0]
    args.run = "run" in argv
    return args


def load_ingress(path: str) -> list[dict[str, str]]:
    """The ``ingress:`` rules of a cloudflared config.yml."""
    with open(path, encoding="utf-8") as handle:
        rules = (yaml.safe_load(handle) or {}).get("ingress") or []
    if not rules or "hostname" in rules[-1]:
        raise ValueError("ingress needs a last catch-all rule without hostname")
    return [{str(k): str(v) for k, v in rule.items()} for rule in rules]


def route(rules: list[dict[str, str]], host: str) -> str:
    """The ``service`` of the first rule matching ``host`` (port stripped)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    for rule in rules:
        if "hostname" not in rule or fnmatch.fnmatch(name.lower(), rule["hostname"].lower()):
            return rule["service"]
    return "http_status:404"


async def answer(writer: asyncio.StreamWriter, status: int) -> None:
    writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
    await writer.drain()
    writer.close()


class Forwarder:
    """Forward each accepted connection to its origin, counting response bytes.

    Quick tunnels have one origin (``--url``); named tunnels pick it per connection from the
    ingress rules by the first request's ``Host`` header.
    """

    def __init__(self, origin: str = "", rules: list[dict[str, str]] | None = None) -> None:
        self.origin, self.rules = origin, rules
        self.forwarded = 0
        self.cut_done = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        service = self.origin
        if self.rules is not None:
            with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                head = await reader.readuntil(b"\r\n\r\n")
            host = ""
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if line.lower().startswith("host:"):
                    host = line.split(":", 1)[1].strip()
            service = route(self.rules, host)
            record("route", host=host, service=service)
        if service.startswith("http_status:"):
            await answer(writer, int(service.split(":", 1)[1]))
            return
        split = urlsplit(service)
        try:
            up_reader, up_writer = await asyncio.open_connection(split.hostname, split.port)
        except OSError:
            await answer(writer, 502)  # cloudflared: "Unable to reach the origin service"
            return
        up_writer.write(head)
        await asyncio.gather(
            self.pump(reader, up_writer, count=False), self.pump(up_reader, writer, count=True)
        )

    async def pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool
    ) -> None:
        try:
            while data := await reader.read(256 * 1024):
                if count and DIE_AFTER_BYTES:
                    room = DIE_AFTER_BYTES - self.forwarded
                    if len(data) >= room:
                        writer.write(data[:room])
                        await writer.drain()
                        record("die", forwarded=DIE_AFTER_BYTES)
                        os._exit(3)  # abrupt, like a crash: no cleanup, sockets reset
                if count and CUT_ONCE_AFTER_BYTES and not self.cut_done:
                    room = CUT_ONCE_AFTER_BYTES - self.forwarded
                    if len(data) >= room:
                        self.cut_done = True
                        writer.write(data[:room])
                        await writer.drain()
                        record("cut", forwarded=CUT_ONCE_AFTER_BYTES)
                        writer.transport.abort()
                        return
                self.forwarded += len(data) if count else 0
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()


async def metrics_handler(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hostname: str, up_at: float
) -> None:
    request_line = (await reader.readline()).decode("latin-1")
    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
        pass
    path = request_line.split(" ")[1] if " " in request_line else "/"
    if path == "/quicktunnel":
        status, body = 200, {"hostname": hostname}
    elif path == "/ready":
        now = time.monotonic()
        hung = (
            UNREADY_AFTER_SECONDS > 0 and now >= up_at - READY_AFTER_SECONDS + UNREADY_AFTER_SECONDS
        )
        ready = now >= up_at and not hung
        status = 200 if ready else 503
        body = {"status": status, "readyConnections": 4 if ready else 0, "connectorId": "fake"}
        record("ready_probe", status=status)
    else:
        status, body = 404, {"error": "not found"}
    payload = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
    writer.write(f"{head}content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode())
    writer.write(payload)
    await writer.drain()
    writer.close()


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.run:
        if not args.token:
            print("error: tunnel run needs --token or TUNNEL_TOKEN", file=sys.stderr)
            return 1
        try:
            forwarder = Forwarder(rules=load_ingress(os.environ["FAKE_CLOUDFLARED_INGRESS"]))
        except (KeyError, OSError, ValueError) as exc:
            print(f"error: no usable ingress rules: {exc}", file=sys.stderr)
            return 1
        origin = "ingress rules"
        listen_host, listen_port = host_port(os.environ.get("FAKE_CLOUDFLARED_LISTEN", ":0"))
    else:
        origin = args.url or ""
        split = urlsplit(origin)
        if not split.hostname or not split.port:
            print(f"error: need an origin URL with host and port, got {origin!r}", file=sys.stderr)
            return 1
        forwarder = Forwarder(origin)
        listen_host, listen_port = "127.0.0.1", 0
    public = await asyncio.start_server(forwarder.handle, listen_host, listen_port)
    hostname = "" if args.run else f"127.0.0.1:{public.sockets[0].getsockname()[1]}"
    up_at = time.monotonic() + READY_AFTER_SECONDS
    metrics_host, metrics_port = host_port(args.metrics)
    metrics = await asyncio.start_server(
        lambda r, w: metrics_handler(r, w, hostname, up_at), metrics_host, metrics_port
    )
    record("start", argv=argv, token_in_argv="--token" in argv, token=bool(args.token))
    print(f"INF fake tunnel {hostname or 'named'} -> {origin}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    public.close()
    metrics.close()
    record("stop")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
