"""store_blob: content-addressed, byte-exact, once per sha256, big or small, on every backend."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from maildesk.app import App
from maildesk.pipeline.accept import accept
from maildesk.pipeline.outcome import Kind
from maildesk.store import blobs
from maildesk.store.blobs import store_blob
from maildesk.store.models import Attachment, Blob
from tests.helpers import NOW, make_mail


def stored(app: App, sha: str) -> tuple[int, bytes] | None:
    with app.db.transaction() as s:
        row = s.get(Blob, sha)
        return None if row is None else (row.size, bytes(row.data))


@pytest.mark.parametrize("size", [0, 10, blobs.STREAM_MIN - 1, blobs.STREAM_MIN, 2_500_001])
def test_blob_kept_byte_exact_once(make_app: Callable[..., App], size: int) -> None:
    app = make_app()
    data = random.Random(size).randbytes(size)
    sha = hashlib.sha256(data).hexdigest()
    for _ in range(2):  # the second time is a no-op, not an error
        with app.db.transaction() as s:
            assert store_blob(s, data, sha) == sha
    assert stored(app, sha) == (size, data)
    with app.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Blob)) == 1


def test_blob_from_memoryview(make_app: Callable[..., App]) -> None:
    app = make_app()
    data = random.Random(1).randbytes(blobs.STREAM_MIN + 3)
    sha = hashlib.sha256(data).hexdigest()
    with app.db.transaction() as s:
        store_blob(s, memoryview(data), sha)
    assert stored(app, sha) == (len(data), data)


def test_blob_rolled_back_with_its_transaction(make_app: Callable[..., App]) -> None:
    app = make_app()
    data = random.Random(2).randbytes(blobs.STREAM_MIN * 2)
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(RuntimeError), app.db.transaction() as s:
        store_blob(s, data, sha)
        raise RuntimeError("later step failed")
    assert stored(app, sha) is None


def test_big_mail_and_attachment_stored_exactly(app: App) -> None:
    """A mail over elide.MIN_MESSAGE: raw kept byte-exact, the attachment by its sha256."""
    data = random.Random(3).randbytes(1_600_000)
    raw = make_mail(attachments=[("../volcado.bin", "application/octet-stream", data)])
    out = accept(app, raw, "test", NOW)
    assert out.kind is Kind.TICKETED
    raw_sha = hashlib.sha256(raw).hexdigest()
    att_sha = hashlib.sha256(data).hexdigest()
    assert stored(app, raw_sha) == (len(raw), raw)
    assert stored(app, att_sha) == (len(data), data)
    with app.db.transaction() as s:
        row = s.scalars(select(Attachment)).one()
        assert (row.filename, row.size, row.sha256) == ("volcado.bin", len(data), att_sha)
