"""RatePacer: calls wait for room in the bucket Frame.io announced, and only then."""

from __future__ import annotations

import threading

import httpx

from blocks.call_timing import TimedTransport
from blocks.pacing import RatePacer

CREATE = "POST /v4/accounts/{id}/folders/{id}/folders"


def _headers(limit: int, remaining: int, window_ms: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-window": str(window_ms),
    }


class FakeTime:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_an_unknown_endpoint_is_not_paced() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    assert pacer.before(CREATE) == 0.0 and clock.slept == []


def test_an_empty_bucket_waits_one_drain_interval_per_call() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    pacer.after(CREATE, _headers(3, 0, 1000))  # 3 per second, none left
    for _ in range(3):
        pacer.before(CREATE)
    assert clock.slept == [0.333, 0.333, 0.333]


def test_room_left_is_used_without_waiting_and_the_bucket_drains_with_time() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    pacer.after(CREATE, _headers(3, 2, 1000))
    pacer.before(CREATE)
    pacer.before(CREATE)
    assert clock.slept == []
    clock.now += 1.0  # a whole window later the bucket is empty again
    for _ in range(3):
        pacer.before(CREATE)
    assert clock.slept == []


def test_headers_that_are_missing_or_not_numbers_are_ignored() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    pacer.after(CREATE, {"x-ratelimit-limit": "3"})
    pacer.after(CREATE, _headers(3, 0, 0) | {"x-ratelimit-window": "soon"})
    assert pacer.before(CREATE) == 0.0


def test_concurrent_callers_queue_one_interval_apart() -> None:
    pacer = RatePacer(lambda: 0.0, lambda _seconds: None)  # time stands still: no drain
    pacer.after(CREATE, _headers(10, 0, 1000))  # 10/s, bucket full
    waits: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        wait = pacer.before(CREATE)
        with lock:
            waits.append(round(wait, 3))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [0.1, 0.2, 0.3]


def test_the_transport_paces_by_endpoint_and_learns_from_each_answer() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers=_headers(2, 0, 1000), json={})

    transport = TimedTransport(httpx.MockTransport(handler), pacer=pacer)
    with httpx.Client(transport=transport, base_url="http://fio") as client:
        client.post("/v4/accounts/1234567890abcdef1/folders/1234567890abcdef2/folders")
        client.post("/v4/accounts/1234567890abcdef1/folders/1234567890abcdef3/folders")
        client.get("/v4/accounts/1234567890abcdef1/folders/1234567890abcdef2/children")
    assert clock.slept == [0.5]  # the second create waited; the listing is another bucket


def test_the_servers_count_wins_over_ours_so_room_it_reports_is_used() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    pacer.after(CREATE, _headers(3, 3, 1000))
    for _ in range(10):  # time stands still, yet each answer says the bucket is empty
        pacer.before(CREATE)
        pacer.after(CREATE, _headers(3, 3, 1000))
    assert clock.slept == []


def test_a_call_without_an_answer_leaves_the_bucket() -> None:
    clock = FakeTime()
    pacer = RatePacer(lambda: clock.now, clock.sleep)
    pacer.after(CREATE, _headers(2, 2, 1000))
    pacer.before(CREATE)
    pacer.failed(CREATE)  # network error: in flight no more
    pacer.before(CREATE)
    pacer.after(CREATE, _headers(2, 1, 1000))  # the server counted one: no call of ours pending
    pacer.before(CREATE)
    assert clock.slept == []
