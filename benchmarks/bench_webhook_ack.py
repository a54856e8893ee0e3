"""Webhook receiver: how fast a Frame.io delivery is answered while the work waits.

Frame.io gives a delivery 5 s to be answered 2xx, else it retries ("Retries and Logging" in its
webhooks guide). The receiver (``blocks/webhook_receiver.py``) verifies the signature, claims
the delivery's key in the state store (SQLite here) and queues the work. Measured on loopback,
sequential signed POSTs from one httpx client:

1. the floor: a bare Starlette route answering 200 on the same uvicorn seam (same run);
2. ours, with a handler that takes ``--work-seconds`` per delivery (a slow Discord): the
   answer must not wait for it.

Rows: ACK p50 and p95 (ms), ours vs the floor; and the time the queue took to drain, to show
the work really was slower than the answers. Prints figures; asserts nothing.

Usage: ``.venv/bin/python benchmarks/bench_webhook_ack.py [--deliveries 200] [--work-seconds 0.05]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import Row, emit, ratio  # noqa: E402

from blocks.store import local_store  # noqa: E402
from blocks.store.review import ReviewBook  # noqa: E402
from blocks.webhook_receiver import WebhookReceiver  # noqa: E402
from blocks.webhook_signature import sign  # noqa: E402
from core.loopback import UvicornThread  # noqa: E402

SECRET = "bench-secret"


def _latencies(url: str, count: int) -> list[float]:
    """Seconds per signed POST, each with its own resource id (no duplicates)."""
    out = []
    with httpx.Client(timeout=30) as client:
        for i in range(count):
            body = b'{"resource":{"id":"f%d","type":"file"},"type":"file.ready"}' % i
            now = str(int(time.time()))
            headers = {
                "X-Frameio-Request-Timestamp": now,
                "X-Frameio-Signature": sign(SECRET, now, body),
            }
            started = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            out.append(time.perf_counter() - started)
            response.raise_for_status()
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--work-seconds", type=float, default=0.05)
    args = parser.parse_args()

    async def ok(_request: object) -> JSONResponse:
        return JSONResponse({"status": "queued"})

    with UvicornThread(Starlette(routes=[Route("/hook", ok, methods=["POST"])])) as floor:
        base = _latencies(f"{floor.url}/hook", args.deliveries)

    book = ReviewBook(local_store(Path(tempfile.mkdtemp(prefix="postflow-bench-ack-"))))

    def work(_delivery: object) -> None:
        time.sleep(args.work_seconds)

    receiver = WebhookReceiver(lambda: SECRET, lambda d: book.claim_delivery(d.key), work)
    with receiver:
        started = time.perf_counter()
        ours = _latencies(receiver.url, args.deliveries)
        answered = time.perf_counter() - started
        receiver.wait_idle()
        drained = time.perf_counter() - started

    for q in (50, 95):
        value, peer = _p(ours, q) * 1000, _p(base, q) * 1000
        emit(
            Row(
                "P8",
                f"webhook ACK p{q}, work {args.work_seconds * 1000:.0f} ms each "
                f"({args.deliveries} deliveries)",
                f"{value:.1f} ms",
                f"bare Starlette {peer:.1f} ms",
                ratio(value, peer),
                "< 5 s (Frame.io's timeout); work never waited for",
            )
        )
    emit(
        Row(
            "P8",
            "webhook work drained after the last ACK",
            f"{drained - answered:.2f} s",
            f"all answered in {answered:.2f} s",
            "",
            "answers do not wait for the work",
        )
    )


if __name__ == "__main__":
    main()
