"""Debian's Chromium, headless: screenshots and the DOM after load, for tests of web output.

Each run gets a fresh profile folder and no network beyond the file it opens
(--disable-background-networking; pages under test must not need any).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container: the setuid sandbox is not available
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    binary = chromium_path()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="maildesk-chromium-") as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )


def screenshot(page: Path, out: Path, width: int, height: int, timeout: float = 90) -> Path:
    """A PNG of `page` rendered in a width x height window."""
    _run([f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], timeout)
    if not out.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {page}")
    return out


def dump_dom(page: Path, width: int = 1000, height: int = 800, timeout: float = 90) -> str:
    """The DOM after load and scripts, serialised (laid out in a width x height window)."""
    return _run([f"--window-size={width},{height}", "--dump-dom", page.as_uri()], timeout).stdout
