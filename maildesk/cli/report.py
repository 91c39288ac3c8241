"""`maildesk report [--since DATE] [--until DATE] --html FILE`: the support report as one
self-contained HTML page (charts inside it; nothing fetched when it is opened)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from maildesk.cli.common import EX_OK, EX_USAGE, open_app
from maildesk.report import charts, render
from maildesk.report.data import gather


def period(
    since: date | None, until: date | None, now: datetime, tz: tzinfo
) -> tuple[datetime, datetime]:
    """[since 00:00, the day after until 00:00) in the support timezone; by default the
    last eight weeks up to now."""
    end = datetime.combine(until + timedelta(days=1), time(0), tz) if until else now
    start = datetime.combine(since, time(0), tz) if since else end - timedelta(weeks=8)
    return start, end


def write_atomically(path: Path, text: str) -> None:
    """The page appears whole or not at all (a browser or a mailer may be watching it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_report(args: argparse.Namespace) -> int:
    out = Path(args.html)
    if not out.parent.is_dir():
        print(f"maildesk report: no such folder: {out.parent}", file=sys.stderr)
        return EX_USAGE
    if args.since and args.until and args.since > args.until:
        print("maildesk report: --since is after --until", file=sys.stderr)
        return EX_USAGE
    with open_app(args) as app:
        since, until = period(args.since, args.until, app.now(), app.calendar.tz)
        data = gather(app, since, until)
        lang = app.cfg.support.language
    drawn = charts.draw(data, render.WORDS[lang])
    write_atomically(out, render.html(data, drawn, lang))
    if not drawn:
        print(f"maildesk report: charts not drawn: {charts.MISSING}", file=sys.stderr)
    print(
        f"report written to {out} ({render.period_text(data, lang)}: "
        f"{data.totals.opened} opened, {data.totals.resolved} resolved, {len(drawn)} charts)"
    )
    return EX_OK
