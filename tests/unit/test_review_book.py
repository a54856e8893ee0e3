"""The review loop's claims in the state store: each effect once, whoever asks first."""

from __future__ import annotations

import pytest

from blocks.store import local_store
from blocks.store.review import ReviewBook

EMBED = {"title": "SC01 / 00412 — V002 uploaded", "fields": []}


@pytest.fixture
def book(tmp_path):
    return ReviewBook(local_store(tmp_path), clock=lambda: 1000.0)


def _post(book: ReviewBook, file_id: str = "f1") -> None:
    book.record_message(
        file_id, block="b", message_id="m1", embed=EMBED, label="SC01", language="fr"
    )


def test_a_delivery_key_is_claimed_once(book):
    assert book.claim_delivery("file.ready:f1:1") is True
    assert book.claim_delivery("file.ready:f1:1") is False
    assert book.claim_delivery("file.ready:f1:2") is True


def test_an_effect_is_claimed_once_until_given_back(book):
    assert book.claim_effect("comment.created:c1") is True
    assert book.claim_effect("comment.created:c1") is False
    book.release_effect("comment.created:c1")
    assert book.claim_effect("comment.created:c1") is True


def test_playable_is_claimed_only_once_the_message_exists_and_it_is_ready(book):
    book.mark_ready("f1")
    assert book.claim_playable("f1") is None  # no message yet: the ingest edits it later
    _post(book)
    row = book.claim_playable("f1")
    assert row is not None and row.embed == EMBED and row.language == "fr"
    assert book.claim_playable("f1") is None


def test_a_released_playable_edit_can_be_claimed_again(book):
    _post(book)
    book.mark_ready("f1")
    assert book.claim_playable("f1") is not None
    book.release_playable("f1")
    assert book.claim_playable("f1") is not None


def test_a_status_is_announced_once_per_change(book):
    _post(book)
    assert book.swap_status("f1", "Approved") == ""
    assert book.swap_status("f1", "Approved") is None
    assert book.swap_status("f1", "Needs Review") == "Approved"
    book.restore_status("f1", "Approved")
    assert book.file("f1").status == "Approved"


def test_a_status_of_a_file_that_is_not_ours_is_ignored(book):
    assert book.swap_status("unknown", "Approved") is None


def test_the_poll_takes_posted_files_least_recently_polled_first(book):
    for file_id in ("f1", "f2", "f3"):
        _post(book, file_id)
    book.mark_ready("f4")  # never posted: not polled
    book.mark_polled("f1", "2026-01-01T00:00:00+00:00")
    assert [r.file_id for r in book.due_for_poll(10)] == ["f2", "f3", "f1"]
    assert book.file("f1").comments_after == "2026-01-01T00:00:00+00:00"


def test_a_second_installation_sees_none_of_these_rows(tmp_path):
    ours = ReviewBook(local_store(tmp_path, installation="a"))
    theirs = ReviewBook(local_store(tmp_path, installation="b"))
    assert ours.claim_effect("k") is True
    assert theirs.claim_effect("k") is True
    _post(ours)
    assert theirs.file("f1") is None


class _Block:
    def __init__(self) -> None:
        self.edits: list[str] = []

    def edit(self, message_id: str, embed: dict) -> None:
        self.edits.append(message_id)


def test_a_productions_upload_message_is_kept_in_the_installations_store(tmp_path):
    """One receiver serves every production: their messages go to the installation's store,
    not to each production's own state dir (where the receiver would never look)."""
    from config.productions import _for, load_productions
    from config.settings import PostflowSettings
    from tasks.review.announce import remember_message

    productions = tmp_path / "productions.toml"
    productions.write_text(
        '[[production]]\nname = "film-a"\nwatch_path = "/tmp/a"\nframeio_project_id = "p-a"\n',
        encoding="utf-8",
    )
    base = PostflowSettings(state_dir=tmp_path / "state")
    film = _for(base, load_productions(productions)[0])
    assert film.state_dir != base.state_dir

    remember_message(film, _Block(), EMBED, "f1", "m1", "SC01")  # type: ignore[arg-type]

    assert ReviewBook(local_store(tmp_path / "state")).file("f1").message_id == "m1"


def test_ready_rows_of_files_never_announced_go_after_a_day(tmp_path):
    now = [1000.0]
    book = ReviewBook(local_store(tmp_path), clock=lambda: now[0])
    book.mark_ready("other-project-file")
    _post(book, "ours")
    book.mark_ready("ours")
    now[0] += 24 * 3600 + 1
    book.mark_ready("another")
    assert book.file("other-project-file") is None
    assert book.file("ours") is not None and book.file("another") is not None
