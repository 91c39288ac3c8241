"""The peers, run on our corpus: django-helpdesk `process_email()` and Roundup's mailgw in
mailbox mode, each from PyPI into its own venv under the bench work folder.

Why drivers run inside each peer's venv: their dependencies (Django, Roundup) must not leak
into maildesk's. Each driver times only the ingestion call (set-up, migrations, user
creation are outside the clock) and prints one JSON line with the time and outcome counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import run, work_dir
from bench.corpus import Corpus

PINS = {"helpdesk": "django-helpdesk>=2.6,<2.7", "roundup": "roundup>=2.6,<2.7"}


@dataclass
class PeerResult:
    system: str
    seconds: float
    cpu: float  # CPU seconds of the ingesting process: comparable on a busy machine
    counts: dict[str, int]

    def rate(self, n: int) -> float:
        return n / self.seconds if self.seconds else 0.0


def venv(system: str) -> Path:
    """The peer's venv, created and installed on first use (a marker records success)."""
    path = work_dir() / "venvs" / system
    marker = path / ".installed"
    if marker.exists() and marker.read_text() == PINS[system]:
        return path
    print(f"   installing {PINS[system]} into {path} ...", flush=True)
    base = os.environ.get("MAILDESK_BENCH_PEER_PYTHON", "python3")
    run([base, "-m", "venv", "--clear", str(path)])
    run([str(path / "bin" / "pip"), "install", "-q", PINS[system]])
    marker.write_text(PINS[system])
    return path


def _driver(name: str, source: str) -> Path:
    path = work_dir() / "drivers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"driver printed no result:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")


def _result(system: str, out: dict[str, Any]) -> PeerResult:
    return PeerResult(system, float(out["seconds"]), float(out["cpu"]), dict(out["counts"]))


# -- django-helpdesk -----------------------------------------------------------------------

HELPDESK_DRIVER = r'''
"""django-helpdesk: a throwaway Django project, one "local directory" queue, process_email()."""
import json, os, shutil, sys, time
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="bench", USE_TZ=True, SITE_ID=1, ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sites",
                    "django.contrib.humanize", "django.contrib.sessions",
                    "django.contrib.messages", "rest_framework", "helpdesk"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "dh.sqlite3"}},
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    DEFAULT_FROM_EMAIL="support@example.test", MEDIA_ROOT="media",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField", HELPDESK_TEAMS_MODE_ENABLED=False,
    LOGGING_CONFIG=None,
)
django.setup()
from django.urls import include, path
urlpatterns = [path("helpdesk/", include("helpdesk.urls"))]  # ack templates reverse() URLs
from django.core import mail
from django.core.management import call_command

src = sys.argv[1]
shutil.copytree(src, "inbox")
call_command("migrate", verbosity=0)
from helpdesk.models import FollowUp, FollowUpAttachment, Queue, Ticket
from helpdesk.email import process_email

Queue.objects.create(
    title="Support", slug="support", email_address="support@example.test",
    allow_email_submission=True, email_box_type="local",
    email_box_local_dir=os.path.abspath("inbox"), email_box_interval=0, logging_type="none",
)
# Its local box reads os.listdir() order (hash order): sorted, replies follow their ticket,
# as IMAP UID order would give. Only the order changes, not the work.
_listdir = os.listdir
os.listdir = lambda p=".": sorted(_listdir(p))
mail.outbox = []
t0, c0 = time.perf_counter(), time.process_time()
process_email(quiet=True)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
tickets = Ticket.objects.count()
print(json.dumps({"seconds": dt, "cpu": cpu, "counts": {
    "tickets": tickets, "followups": FollowUp.objects.count() - tickets,
    "acks": len(mail.outbox), "attachments": FollowUpAttachment.objects.count(),
    "left_unprocessed": len(_listdir("inbox"))}}))
'''


def run_helpdesk(corpus: Corpus, folder: Path) -> PeerResult:
    """Write the corpus as .eml files (helpdesk tags) and time `process_email()`."""
    python = venv("helpdesk") / "bin" / "python"
    emls = folder / "helpdesk-eml"
    corpus.write_eml_dir("helpdesk", emls)
    cwd = folder / "helpdesk"
    cwd.mkdir()
    driver = _driver("helpdesk_driver.py", HELPDESK_DRIVER)
    proc = run([str(python), str(driver), str(emls)], cwd=cwd, timeout=3600)
    out = _last_json(proc)
    return _result("django-helpdesk", out)


# -- Roundup -------------------------------------------------------------------------------

ROUNDUP_SETUP = r'''
"""Roundup: register the corpus's contacts as users (outside the clock)."""
import json, sys
import roundup.instance
home, users = sys.argv[1], json.load(open(sys.argv[2]))
db = roundup.instance.open(home).open("admin")
for name, address in users:
    db.user.create(username=name, address=address, roles="User")
db.commit()
db.close()
'''

ROUNDUP_DRIVER = r'''
"""Roundup: mailbox mode as roundup-mailgw runs it, minus interpreter start-up."""
import json, re, sys, time
import roundup.instance
from roundup import mailgw
from roundup.scripts.roundup_mailgw import parse_arguments

home, mbox, outbox = sys.argv[1:4]
_, args = parse_arguments([home, "mailbox", mbox])
instance = roundup.instance.open(home)
handler = mailgw.MailGW(instance, args)
t0, c0 = time.perf_counter(), time.process_time()
handler.do_mailbox(mbox)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
db = instance.open("admin")
try:
    sent = open(outbox, encoding="utf-8", errors="replace").read()
except FileNotFoundError:
    sent = ""
msgs = len(db.msg.list())
issues = len(db.issue.list())
print(json.dumps({"seconds": dt, "cpu": cpu, "counts": {
    "tickets": issues, "followups": msgs - issues,
    "acks": len(re.findall(r"^Subject:", sent, re.M)),
    "attachments": len(db.file.list()), "users": len(db.user.list())}}))
'''


def run_roundup(corpus: Corpus, folder: Path) -> PeerResult:
    """A fresh classic tracker on SQLite with the contacts as users; time mailbox mode."""
    bindir = venv("roundup") / "bin"
    work = folder / "roundup"
    work.mkdir()
    home = work / "tracker"
    outbox = work / "outbox.txt"
    options = ",".join(
        [
            "tracker_web=http://localhost:8917/support/",
            "mail_domain=example.test",
            "admin_email=roundup-admin@example.test",
            "dispatcher_email=roundup-admin@example.test",
            f"mail_debug={outbox}",
            "nosy_messages_to_author=yes",
        ]
    )
    admin = str(bindir / "roundup-admin")
    run([admin, "-i", str(home), "install", "classic", "sqlite", options], cwd=work)
    run([admin, "-i", str(home), "initialise", "adminpw"], cwd=work)
    users = work / "users.json"
    users.write_text(json.dumps([[c.username, c.email] for c in corpus.contacts]))
    python = str(bindir / "python")
    run([python, str(_driver("roundup_setup.py", ROUNDUP_SETUP)), str(home), str(users)], cwd=work)
    mbox = work / "in.mbox"
    corpus.write_mbox("roundup", mbox)
    driver = _driver("roundup_driver.py", ROUNDUP_DRIVER)
    proc = run([python, str(driver), str(home), str(mbox), str(outbox)], cwd=work, timeout=3600)
    out = _last_json(proc)
    return _result("Roundup", out)


RUNNERS = {"helpdesk": run_helpdesk, "roundup": run_roundup}

if __name__ == "__main__":  # install both venvs ahead of a run
    for name in RUNNERS:
        print(name, venv(name))
    sys.exit(0)
