"""The whole file's XXH3-128 from blocks fed in any order (blocks/stream_digest.py)."""

from __future__ import annotations

import random
import threading

import pytest
import xxhash

from blocks.stream_digest import OrderedDigest

DATA = random.Random(7).randbytes(64 * 1024 + 123)
BLOCK = 4096


def _blocks() -> list[tuple[int, bytes]]:
    return [(o, DATA[o : o + BLOCK]) for o in range(0, len(DATA), BLOCK)]


def _reader(counter: list[int]):
    def read(offset: int, length: int) -> bytes:
        counter[0] += length
        return DATA[offset : offset + length]

    return read


def test_blocks_fed_in_file_order_give_the_files_xxh3_128() -> None:
    digest = OrderedDigest(len(DATA), 0, _reader([0]))
    for offset, block in _blocks():
        digest.feed(offset, block)
    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(DATA)


def test_blocks_in_any_order_within_the_buffer_are_read_once() -> None:
    reread = [0]
    blocks = _blocks()
    random.Random(1).shuffle(blocks)
    digest = OrderedDigest(len(DATA), len(DATA), _reader(reread))
    for offset, block in blocks:
        digest.feed(offset, block)
    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(DATA)
    assert reread[0] == 0 and digest.reread_bytes == 0


def test_past_the_buffer_blocks_are_read_again_and_the_digest_holds() -> None:
    reread = [0]
    blocks = list(reversed(_blocks()))
    digest = OrderedDigest(len(DATA), 2 * BLOCK, _reader(reread))
    for offset, block in blocks:
        digest.feed(offset, block)
    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(DATA)
    # kept: the 123-byte tail and block 15; hashed at once: block 0; read again: 1..14
    assert reread[0] == digest.reread_bytes == 14 * BLOCK


def test_a_retried_part_feeding_its_bytes_again_changes_nothing() -> None:
    digest = OrderedDigest(len(DATA), len(DATA), _reader([0]))
    blocks = _blocks()
    for offset, block in blocks[:5] + blocks[2:4] + blocks[8:] + blocks[5:]:
        digest.feed(offset, block)
    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(DATA)


def test_parts_fed_from_threads_give_the_same_digest() -> None:
    parts = [_blocks()[i : i + 4] for i in range(0, len(_blocks()), 4)]
    digest = OrderedDigest(len(DATA), 3 * 4 * BLOCK, _reader([0]))
    threads = [
        threading.Thread(target=lambda p=p: [digest.feed(o, b) for o, b in p]) for p in parts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert digest.hexdigest() == xxhash.xxh3_128_hexdigest(DATA)


def test_a_digest_that_did_not_see_every_byte_refuses_to_answer() -> None:
    digest = OrderedDigest(len(DATA), len(DATA), _reader([0]))
    digest.feed(0, DATA[:BLOCK])
    with pytest.raises(RuntimeError, match="covers 4096 of"):
        digest.hexdigest()


@pytest.mark.parametrize(
    ("size", "count", "length", "expected"),
    [
        (100, 4, 10, [(0, 10), (30, 10), (60, 10), (90, 10)]),
        (100, 1, 10, [(0, 10)]),
        (30, 4, 10, [(0, 30)]),
        (0, 4, 10, []),
    ],
)
def test_sample_ranges_cover_start_end_and_between(size, count, length, expected) -> None:
    from tasks.upload.sample_check import sample_ranges

    assert sample_ranges(size, count, length) == expected
