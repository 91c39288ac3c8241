"""decode_base64: the same bytes as `email`'s base64 decoding, whatever the body holds."""

from __future__ import annotations

import base64
import email.message
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maildesk.mail import b64
from maildesk.mail.b64 import decode_base64


def email_decodes(body: bytes) -> bytes:
    """The reference: what a parsed part with this body gives for get_payload(decode=True)."""
    part = email.message.Message()
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(body.decode("ascii", "surrogateescape"))
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def split(body: bytes, cuts: list[int], kinds: list[int]) -> list[str | bytes | memoryview]:
    """`body` cut at `cuts`, each piece as str (surrogate-escaped), bytes or memoryview."""
    points = sorted({min(c, len(body)) for c in cuts})
    bounds = [0, *points, len(body)]
    pieces: list[str | bytes | memoryview] = []
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        chunk = body[start:end]
        kind = kinds[i % len(kinds)] if kinds else 0
        if kind == 0:
            pieces.append(chunk.decode("ascii", "surrogateescape"))
        elif kind == 1:
            pieces.append(chunk)
        else:
            pieces.append(memoryview(body)[start:end])
    return pieces


_BASE64ISH = st.lists(
    st.one_of(
        st.sampled_from(list(b64.ALPHABET)).map(lambda c: bytes([c])),
        st.sampled_from([b"=", b"==", b"\n", b"\r\n", b"\r", b" ", b"\t", b"-", b"*", b"\xff"]),
        st.binary(min_size=1, max_size=3),
    ),
    max_size=120,
).map(b"".join)

_CLEAN = st.binary(max_size=300).map(base64.encodebytes)  # 76-character lines, padded


@pytest.fixture(params=[b64.CHUNK, 5], ids=["1MiB-chunks", "5-byte-chunks"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run each case with the real chunk size and with one that cuts every quantum."""
    monkeypatch.setattr(b64, "CHUNK", request.param)
    return int(request.param)


@pytest.mark.parametrize("size", [b64.CHUNK, 5], ids=["1MiB-chunks", "5-byte-chunks"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(_BASE64ISH, _CLEAN, _CLEAN.map(lambda b: b.rstrip(b"=\n")), st.binary()),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4),
    kinds=st.lists(st.integers(min_value=0, max_value=2), max_size=5),
)
def test_property_equals_email_decoding(
    size: int, body: bytes, cuts: list[int], kinds: list[int]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(b64, "CHUNK", size)
        assert decode_base64(split(body, cuts, kinds)) == email_decodes(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"QUJD\r\nREVG\r\n",
        b"QUJDRA==\r\n",
        b"QUJDRA\r\n",  # padding missing
        b"QUJDREU\r\n",  # one pad character missing
        b"QUJDR\r\n",  # one character too many: comes back undecoded
        b"QUJD\r\nRA==\r\nQUJD\r\n",  # data after the padding is ignored
        b"QU*JD RE!VG\r\n",  # junk between quanta
        b"QQ=Q=\r\n",  # padding in the middle of a quantum
        b"=QUJD\r\n",
        b"QUJD\xe9REVG\r\n",  # 8-bit byte (surrogate-escaped in the str payload)
    ],
)
def test_awkward_bodies(chunk: int, body: bytes) -> None:
    assert decode_base64([body.decode("ascii", "surrogateescape")]) == email_decodes(body)
    assert decode_base64([memoryview(body)]) == email_decodes(body)


def test_clean_body_in_one_piece_is_one_binascii_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """The big-attachment path: no chunking, so no second full-size copy from a join."""
    data = bytes(range(256)) * 100
    body = base64.encodebytes(data)

    def no_chunks(parts: object) -> bytes:
        raise AssertionError("chunked path taken for a clean body")

    monkeypatch.setattr(b64, "_decode_chunked", no_chunks)
    assert decode_base64(["", memoryview(body)[:-1], "\n"]) == data


def test_str_that_is_not_bytes_raises_for_the_stdlib_to_handle() -> None:
    with pytest.raises(UnicodeEncodeError):
        decode_base64(["QUJD€"])
