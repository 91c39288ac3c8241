"""The supervisors' digest (issue 11): scheduled by the daemon on a cron expression, mailed
through a real SMTP server (aiosmtpd) with the charts as inline PNG images that decode, a
plain-text alternative, once per schedule however many daemons run."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from maildesk.app import App
from maildesk.daemon import Daemon
from maildesk.outbound.sender import flush
from maildesk.registry import import_registry_file
from maildesk.report import charts, digest
from maildesk.report.charts import HEIGHT_PX, WIDTH_PX
from tests.report.helpers import END, play_desk
from tests.servers.smtp_sink import SmtpSink

SUPERVISORS = ["jefe@support.example", "directora@support.example"]


@pytest.fixture
def desk(make_app: Callable[..., App], registry_file, smtp_sink: SmtpSink) -> App:
    app = make_app(
        outbound=smtp_sink.outbound(),
        escalation={"supervisors": SUPERVISORS},
    )
    import_registry_file(app.db, registry_file)
    play_desk(app)
    return app


def _digests(sink: SmtpSink) -> list[EmailMessage]:
    return [r.message for r in sink.messages if "Resumen semanal" in str(r.message["Subject"])]


def test_digest_mail_has_inline_charts_that_decode_and_a_text_alternative(
    desk: App, smtp_sink: SmtpSink
) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="*** SKIPPED: Pillow missing ***")
    if not charts.available():
        pytest.skip(f"*** SKIPPED: {charts.MISSING}: the digest has no images to check ***")
    smtp_sink.messages.clear()
    assert digest.queue_digest(desk, END) == 2
    flush(desk)
    mails = _digests(smtp_sink)
    assert sorted(str(m["To"]) for m in mails) == sorted(SUPERVISORS)
    mail = mails[0]
    assert mail["Auto-Submitted"] == "auto-generated" and mail.get_content_type() == (
        "multipart/alternative"
    )
    text, related = mail.get_payload()
    assert text.get_content_type() == "text/plain"
    assert "abiertos: 30" in text.get_content() and "Agente Uno" in text.get_content()
    assert related.get_content_type() == "multipart/related"
    page, *images = related.get_payload()
    html = page.get_content()
    assert len(images) == 5
    for image in images:
        assert image.get_content_type() == "image/png"
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html  # the page shows this very part
        png = image_module.open(io.BytesIO(image.get_content()))
        png.load()  # decodes the whole image, not only its header
        assert png.size == (WIDTH_PX, HEIGHT_PX)
        assert len(png.convert("RGB").getcolors(WIDTH_PX * HEIGHT_PX) or []) > 10  # not blank
    assert "data:" not in html and "http" not in html.split("<body>")[1]


def test_digest_is_queued_once_per_schedule(desk: App) -> None:
    """Two daemons run the same schedule: the second finds it done."""
    assert digest.queue_digest(desk, END) == 2
    assert digest.queue_digest(desk, END + timedelta(seconds=30)) == 0
    # the next week's schedule sends again
    assert digest.queue_digest(desk, END + timedelta(weeks=1)) == 2


def test_digest_is_scheduled_by_the_daemon_on_the_configured_cron(
    make_app: Callable[..., App], registry_file, smtp_sink: SmtpSink, daemons: list[Daemon]
) -> None:
    app = make_app(
        outbound=smtp_sink.outbound(),
        escalation={"supervisors": SUPERVISORS},
        report={"digest": "30 7 * * fri"},
    )
    import_registry_file(app.db, registry_file)
    d = Daemon(app)
    daemons.append(d)
    d.start()
    assert d.scheduler is not None
    job = d.scheduler.get_job("digest")
    assert job is not None
    fire: datetime = job.next_run_time.astimezone(ZoneInfo("America/Mexico_City"))
    assert (fire.weekday(), fire.hour, fire.minute) == (4, 7, 30)
    smtp_sink.messages.clear()
    job.func()  # what the scheduler runs at that time
    smtp_sink.wait_for(2, timeout=20)
    assert sorted(str(m["To"]) for m in _digests(smtp_sink)) == sorted(SUPERVISORS)


def test_digest_off_when_the_cron_expression_is_empty(
    make_app: Callable[..., App], daemons: list[Daemon]
) -> None:
    d = Daemon(make_app(report={"digest": ""}))
    daemons.append(d)
    d.start()
    assert d.scheduler is not None and d.scheduler.get_job("digest") is None
