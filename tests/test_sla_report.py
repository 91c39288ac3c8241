"""`sla report` (P8, P9): open tickets by SLA status per type × priority, and compliance of the
tickets resolved in a period, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from maildesk.app import App
from maildesk.cli import main
from maildesk.config import config_from_dict
from maildesk.errors import ConfigError
from maildesk.pipeline.accept import accept
from maildesk.pipeline.tickets import recompute_sla, transition
from maildesk.registry import import_registry_file
from maildesk.reports import format_report, percentile, sla_report
from maildesk.store.models import Ticket
from tests.helpers import NOW, make_mail

MX = ZoneInfo("America/Mexico_City")


def _new(
    app: App, at: datetime, type_: str, priority: str, sender: str = "ana@acme.example"
) -> int:
    out = accept(app, make_mail(sender=sender, subject=f"{type_} {priority}"), "test", at)
    assert out.ticket_number is not None
    with app.db.transaction() as s:
        t = s.get(Ticket, out.ticket_number)
        assert t is not None
        t.type, t.priority, t.unclassified = type_, priority, False
        recompute_sla(app, t)
    return out.ticket_number


def _move(app: App, number: int, state: str, at: datetime) -> None:
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        transition(s, t, state, at, "agente1@support.example")


def test_p8_sla_report_open_tickets_by_status_per_type_and_priority(app: App) -> None:
    ok = _new(app, NOW, "soporte", "media")  # due Mon 18:30
    warning = _new(app, NOW, "soporte", "urgente")  # warn 13:00, due 14:00
    breached = _new(app, datetime(2026, 11, 23, 10, 0, tzinfo=MX), "error", "alta")  # Tue 15:30
    _new(app, NOW, "consultoria", "media")  # no SLA by default
    # 7x24 customer: 16 wall-clock hours from Tue 13:00 are over by Wed 05:00 (on the
    # business calendar the same ticket would still be "ok" at Wed 13:30).
    wall = _new(
        app,
        datetime(2026, 11, 24, 13, 0, tzinfo=MX),
        "soporte",
        "alta",
        sender="gina@globex.example",
    )
    done = _new(app, NOW, "soporte", "urgente")
    _move(app, done, "resolved", NOW + timedelta(hours=1))

    report = sla_report(app, datetime(2026, 11, 25, 13, 30, tzinfo=MX))
    o = report["open"]
    assert o["total"] == 5
    assert o["by_status"] == {"none": 1, "ok": 1, "warning": 1, "breached": 2}
    assert o["breached_tickets"] == [breached, wall]
    cells = {(c["type"], c["priority"]): c for c in o["by_type_priority"]}
    assert list(cells) == [
        ("soporte", "urgente"),
        ("soporte", "alta"),
        ("soporte", "media"),
        ("error", "alta"),
        ("consultoria", "media"),
    ]
    assert cells[("soporte", "urgente")]["warning"] == 1
    assert cells[("soporte", "alta")]["breached"] == 1
    assert cells[("soporte", "media")] == {
        "type": "soporte",
        "priority": "media",
        "total": 1,
        "none": 0,
        "ok": 1,
        "warning": 0,
        "breached": 0,
    }
    assert cells[("consultoria", "media")]["none"] == 1
    assert ok != warning
    json.dumps(report)  # JSON-ready as it is


def test_p8_sla_report_compliance_of_tickets_resolved_in_period(app: App) -> None:
    on_time = _new(app, NOW, "soporte", "urgente")  # due 14:00
    _move(app, on_time, "resolved", NOW + timedelta(hours=2))
    late = _new(app, NOW, "soporte", "urgente")
    _move(app, late, "resolved", NOW + timedelta(hours=6))
    _move(app, late, "closed", NOW + timedelta(days=1))  # closed later: still counted
    no_sla = _new(app, NOW, "consultoria", "baja")
    _move(app, no_sla, "resolved", NOW + timedelta(hours=1))
    old = _new(app, NOW - timedelta(days=60), "soporte", "media")
    _move(app, old, "resolved", NOW - timedelta(days=59))  # before the default 30-day period
    still_open = _new(app, NOW, "error", "media")

    r = sla_report(app, NOW + timedelta(days=2))["resolved"]
    assert {k: r[k] for k in ("total", "with_sla", "on_time", "late", "no_sla")} == {
        "total": 3,
        "with_sla": 2,
        "on_time": 1,
        "late": 1,
        "no_sla": 1,
    }
    assert r["compliance_pct"] == 50.0
    rows = {(c["type"], c["priority"]): c for c in r["by_type_priority"]}
    assert rows[("soporte", "urgente")]["compliance_pct"] == 50.0
    assert rows[("consultoria", "baja")]["compliance_pct"] is None

    wide = sla_report(app, NOW + timedelta(days=2), since=NOW - timedelta(days=90))
    assert wide["resolved"]["total"] == 4 and wide["resolved"]["compliance_pct"] == 66.7
    assert still_open not in wide["open"]["breached_tickets"]


def test_sla_report_empty_database_and_text_table(app: App) -> None:
    report = sla_report(app, NOW)
    assert report["open"]["total"] == 0 and report["resolved"]["compliance_pct"] is None
    text = format_report(report)
    assert "Open tickets: 0" in text and "compliance -" in text
    _new(app, NOW, "soporte", "urgente")
    text = format_report(sla_report(app, NOW + timedelta(hours=5)))
    assert "breached 1" in text and "soporte  urgente" in text and "breached: #1" in text


def test_cli_sla_report_json_and_table(
    app: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    _new(app, now - timedelta(hours=1), "soporte", "baja")
    done = _new(app, now - timedelta(hours=3), "consultoria", "media")
    _move(app, done, "resolved", now - timedelta(hours=2))
    config = tmp_path / "maildesk.toml"
    config.write_text(
        f'[support]\naddress = "customerservice@support.example"\n'
        f'[database]\nurl = "{app.cfg.database.url}"\n[inbound]\nmode = "none"\n'
        f'[outbound]\nmode = "maildir"\nmaildir = "{tmp_path / "outbox"}"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "sla", "report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["open"]["total"] == 1 and data["resolved"]["no_sla"] == 1
    since = (now - timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert main(["--config", str(config), "sla", "report", "--since", since]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SLA report as of") and "Open tickets: 1" in out
    assert "Resolved since" in out and "soporte" in out


def _answer(app: App, number: int, at: datetime) -> None:
    """The first public agent answer, as the relay records it (SPEC §10)."""
    with app.db.transaction() as s:
        t = s.get(Ticket, number)
        assert t is not None
        t.first_response_at = at


def test_item7_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.5) == 3.0
    assert percentile([float(h) for h in range(1, 11)], 0.9) == pytest.approx(9.1)


def test_item7_sla_report_first_response_beside_resolution_by_type_and_priority(app: App) -> None:
    hours = [1, 2, 3, 4]  # business hours to the first answer, Wed 10:00 + h
    numbers = [_new(app, NOW, "soporte", "alta") for _ in hours]
    for number, h in zip(numbers, hours, strict=True):
        _answer(app, number, NOW + timedelta(hours=h))
    _move(app, numbers[0], "resolved", NOW + timedelta(hours=5))
    waiting = _new(app, NOW, "error", "urgente")  # never answered
    report = sla_report(app, NOW + timedelta(days=1))
    f = report["first_response"]
    assert (f["opened"], f["count"], f["waiting"], f["target_configured"]) == (5, 4, 1, False)
    assert (f["p50_hours"], f["p90_hours"]) == (2.5, 3.7)
    cells = {(c["type"], c["priority"]): c for c in f["by_type_priority"]}
    assert cells[("soporte", "alta")]["count"] == 4
    assert cells[("error", "urgente")] == {
        "type": "error",
        "priority": "urgente",
        "opened": 1,
        "waiting": 1,
        "count": 0,
        "p50_hours": None,
        "p90_hours": None,
    }
    resolved = {(c["type"], c["priority"]): c for c in report["resolved"]["by_type_priority"]}
    assert resolved[("soporte", "alta")]["resolution_time"] == {
        "count": 1,
        "p50_hours": 5.0,
        "p90_hours": 5.0,
    }
    text = format_report(report)
    assert "first response p50 2.5, p90 3.7 (4 answered, 1 waiting)" in text
    assert "FIRST P50" in text and "RES. P90" in text
    assert waiting in report["open"]["breached_tickets"]  # 4 h passed: the SLA, not the reply


def test_item7_first_response_target_when_configured(make_app, registry_file: Path) -> None:
    app = make_app(sla={"first_response_hours": {"soporte": [1, 2, 4, 8]}})
    import_registry_file(app.db, registry_file)
    met = _new(app, NOW, "soporte", "alta")  # target 2 business hours: Wed 12:00
    _answer(app, met, NOW + timedelta(hours=1))
    late = _new(app, NOW, "soporte", "alta")
    _answer(app, late, NOW + timedelta(hours=3))
    _new(app, NOW, "soporte", "alta")  # unanswered, target passed: late
    _new(app, NOW, "error", "alta")  # no target for this type
    f = sla_report(app, NOW + timedelta(hours=4))["first_response"]
    assert (f["met"], f["late"], f["met_pct"], f["waiting"]) == (1, 2, 33.3, 2)
    assert app.cfg.sla_hours["soporte"] == [4.0, 16.0, 40.0, 80.0]  # P8 defaults kept


def test_item7_config_refuses_a_bad_first_response_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sla.first_response_hours.soporte must be 4"):
        config_from_dict({"sla": {"first_response_hours": {"soporte": [1, 2]}}}, "c.toml")
    with pytest.raises(ConfigError, match=r"unknown key \[sla\] 'response'"):
        config_from_dict({"sla": {"response": {}}}, "c.toml")
