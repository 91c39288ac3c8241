"""The report's charts, drawn with matplotlib (the optional `report` extra) as SVG for the
HTML page and PNG for the mail digest (mail readers show PNG; many refuse SVG).

matplotlib draws offline (Agg renderer, fonts it ships, glyphs written as paths in the SVG),
so a chart needs no network and no font on the reader's machine. Without matplotlib,
`available()` is False and `draw` returns no charts: the report says so and keeps its tables.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maildesk.domain.sla import Priority
from maildesk.report.data import BACKLOG_STATES, ReportData, priorities_seen

if TYPE_CHECKING:
    from collections.abc import Callable

#: Why there are no charts, or "" when matplotlib (the optional extra maildesk[report]) is
#: installed. It is imported on first use, not here: numpy and matplotlib take ~50 MB of
#: memory and a second to load, which a daemon that never draws must not pay (SPEC §9).
MISSING = (
    ""
    if importlib.util.find_spec("matplotlib") is not None
    else "matplotlib is not installed; pip install 'maildesk[report]'"
)
_FIGURE: Any = None

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.2, 100  # 800 x 320 px in the mail, the same box in HTML
WIDTH_PX, HEIGHT_PX = int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI)
#: One colour per series, the same in every chart (opened is the same blue everywhere).
COLOURS = {
    "opened": "#1f77b4",
    "resolved": "#2ca02c",
    "closed": "#7f7f7f",
    "open": "#1f77b4",
    Priority.URGENT: "#d62728",
    Priority.HIGH: "#ff7f0e",
    Priority.MEDIUM: "#1f77b4",
    Priority.LOW: "#7f7f7f",
    "first_response": "#9467bd",
    "resolution": "#2ca02c",
}
_LOCK = threading.Lock()  # matplotlib's font cache and mathtext are not thread-safe


@dataclass(frozen=True)
class Chart:
    name: str  # file-name-safe id, also the mail's Content-ID stem
    title: str
    png: bytes
    svg: bytes


def available() -> bool:
    return not MISSING


def _figure() -> Any:
    """matplotlib's Figure, imported once, with the Agg renderer (no display, no GUI)."""
    global _FIGURE
    if _FIGURE is None:
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        _FIGURE = importlib.import_module("matplotlib.figure").Figure
    return _FIGURE


def draw(data: ReportData, labels: dict[str, str]) -> list[Chart]:
    """Every chart for `data`; [] without matplotlib. `labels`: the words to show."""
    if MISSING:
        return []
    plots: list[tuple[str, Callable[[Any, ReportData, dict[str, str]], None]]] = [
        ("weekly", _weekly),
        ("backlog", _backlog),
        ("sla", _sla),
        ("first_response", _first_response),
        ("resolution", _resolution),
    ]
    with _LOCK:
        return [_render(name, labels[f"chart_{name}"], plot, data, labels) for name, plot in plots]


def _render(
    name: str,
    title: str,
    plot: Callable[[Any, ReportData, dict[str, str]], None],
    data: ReportData,
    labels: dict[str, str],
) -> Chart:
    fig = _figure()(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    plot(ax, data, labels)
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return Chart(name, title, png.getvalue(), svg.getvalue())


def _week_labels(data: ReportData) -> list[str]:
    return [w.start.strftime("%d/%m") for w in data.weeks]


def _weekly(ax: Any, data: ReportData, labels: dict[str, str]) -> None:
    x = list(range(len(data.weeks)))
    width = 0.27
    for offset, key in ((-width, "opened"), (0.0, "resolved"), (width, "closed")):
        values = [getattr(w, key) for w in data.weeks]
        ax.bar([i + offset for i in x], values, width, label=labels[key], color=COLOURS[key])
    ax.set_xticks(x, _week_labels(data))
    ax.set_ylabel(labels["tickets"])
    ax.legend(frameon=False, fontsize=8)


def _backlog(ax: Any, data: ReportData, labels: dict[str, str]) -> None:
    x = list(range(len(data.weeks)))
    series = [[w.backlog.get(s, 0) for w in data.weeks] for s in BACKLOG_STATES]
    ax.stackplot(
        x,
        *series,
        labels=[labels[s] for s in BACKLOG_STATES],
        colors=[COLOURS[s] for s in BACKLOG_STATES],
        alpha=0.85,
    )
    ax.set_xticks(x, _week_labels(data))
    ax.set_ylabel(labels["tickets"])
    ax.legend(frameon=False, fontsize=8, loc="upper left")


def _sla(ax: Any, data: ReportData, labels: dict[str, str]) -> None:
    x = list(range(len(data.weeks)))
    for priority in priorities_seen(data):
        values = [w.compliance(priority) for w in data.weeks]
        points = [(i, v) for i, v in zip(x, values, strict=True) if v is not None]
        ax.plot(
            [i for i, _ in points],
            [v for _, v in points],
            marker="o",
            label=priority,
            color=COLOURS.get(priority),
        )
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.5, max(len(x) - 0.5, 0.5))
    ax.set_xticks(x, _week_labels(data))
    ax.set_ylabel("%")
    if priorities_seen(data):
        ax.legend(frameon=False, fontsize=8, loc="lower left")
    else:
        ax.text(0.5, 0.5, labels["no_data"], ha="center", va="center", transform=ax.transAxes)


def _histogram(ax: Any, hours: list[float], colour: str, labels: dict[str, str]) -> None:
    """A distribution; a long tail (abandoned tickets resolved after weeks) is folded into
    the last bin and counted in a note, so it does not squash the bulk into one bar."""
    if hours:
        ordered = sorted(hours)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        cap = p90 if ordered[-1] > 3 * p90 > 0 else ordered[-1]
        tail = sum(h > cap for h in hours)
        ax.hist([min(h, cap) for h in hours], bins=min(20, max(5, len(hours) // 2)), color=colour)
        if tail:
            note = f"{tail} > {cap:.0f} h →"
            ax.text(0.99, 0.95, note, ha="right", va="top", transform=ax.transAxes, fontsize=8)
    else:
        ax.text(0.5, 0.5, labels["no_data"], ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(labels["business_hours"])
    ax.set_ylabel(labels["tickets"])


def _first_response(ax: Any, data: ReportData, labels: dict[str, str]) -> None:
    _histogram(ax, data.first_response_hours, COLOURS["first_response"], labels)


def _resolution(ax: Any, data: ReportData, labels: dict[str, str]) -> None:
    _histogram(ax, data.resolution_hours, COLOURS["resolution"], labels)
