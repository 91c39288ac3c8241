"""Undeclared charsets (issue 9 §4): Western text keeps the cp1252 fast path, non-Western text
is guessed (charset-normalizer) instead of turning into windows-1252 mojibake."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maildesk.mail.charsets import decode_bytes
from maildesk.mail.parse import parse

RUSSIAN = "Здравствуйте! После обновления не работает модуль отчетов. Спасибо, Иван Петров"
CHINESE = "您好，我们的报表模块在升级后无法使用。请帮忙检查一下。谢谢，王伟"
JAPANESE = "こんにちは。更新後にレポート機能が動作しません。確認をお願いします。山田太郎"
KOREAN = "안녕하세요. 업데이트 후 보고서 모듈이 작동하지 않습니다. 확인 부탁드립니다."
SPANISH = "Quiero un café con azúcar, señor. ¿Es posible? Gracias, José Núñez"
PORTUGUESE = "As configurações não funcionam – “erro” ao salvar. Obrigado, João"


def raw_mail(body: bytes, *, charset: str | None = None, subject: bytes = b"Reporte") -> bytes:
    ctype = "text/plain" + (f"; charset={charset}" if charset else "")
    return (
        b"From: cliente@acme.example\r\nTo: soporte@example.test\r\nSubject: "
        + subject
        + b"\r\nMessage-ID: <c1@acme.example>\r\nMIME-Version: 1.0\r\n"
        + f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".encode()
        + body
        + b"\r\n"
    )


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (RUSSIAN, "koi8-r"),
        (RUSSIAN, "cp1251"),
        (CHINESE, "gb2312"),
        (JAPANESE, "shift_jis"),
        (KOREAN, "euc-kr"),
    ],
)
def test_undeclared_non_western_charset_is_guessed(text: str, codec: str) -> None:
    msg = parse(raw_mail(text.encode(codec)))
    assert msg.text.strip() == text
    assert any("guessed" in d for d in msg.defects), msg.defects


@pytest.mark.parametrize(("text", "codec"), [(SPANISH, "latin-1"), (PORTUGUESE, "cp1252")])
def test_undeclared_western_text_keeps_windows_1252(text: str, codec: str) -> None:
    # charset-normalizer reads these as cp1250 ("configuraçőes"): it must not see them.
    msg = parse(raw_mail(text.encode(codec)))
    assert msg.text.strip() == text
    assert any("used windows-1252" in d for d in msg.defects)


def test_declared_charset_that_fails_is_guessed() -> None:
    msg = parse(raw_mail(RUSSIAN.encode("koi8-r"), charset="utf-8"))
    assert msg.text.strip() == RUSSIAN
    assert any("declared 'utf-8' failed, guessed koi8" in d for d in msg.defects), msg.defects


def test_declared_and_utf8_mail_take_the_fast_path_without_defects() -> None:
    assert parse(raw_mail(RUSSIAN.encode("koi8-r"), charset="koi8-r")).defects == ()
    assert parse(raw_mail(RUSSIAN.encode())).defects == ()


def test_raw_8bit_subject_read_in_the_body_charset() -> None:
    # "Ошибка отчета" alone is too short to guess; the body says koi8-r.
    msg = parse(
        raw_mail(
            RUSSIAN.encode("koi8-r"), charset="koi8-r", subject="Ошибка отчета".encode("koi8-r")
        )
    )
    assert msg.subject == "Ошибка отчета"


def test_undeclared_iso_2022_jp_is_not_left_as_escape_codes() -> None:
    msg = parse(raw_mail(JAPANESE.encode("iso2022_jp")))
    assert msg.text.strip() == JAPANESE


def test_few_8bit_bytes_are_not_guessed() -> None:
    defects: list[str] = []
    assert decode_bytes(b"x\x81y", None, defects, "x") == "x\x81y"
    assert defects == ["x: no charset fitted, used latin-1"]


def test_encoded_mail_round_trip_through_email_package() -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@acme.example", "s@example.test", "Отчет"
    m.set_content(RUSSIAN, charset="koi8-r")
    assert parse(m.as_bytes()).text.strip() == RUSSIAN


@given(st.binary(max_size=400), st.sampled_from([None, "utf-8", "koi8-r", "x-bogus", "ascii"]))
def test_property_decode_bytes_never_raises(data: bytes, declared: str | None) -> None:
    defects: list[str] = []
    text = decode_bytes(data, declared, defects, "body")
    assert isinstance(text, str)
