"""PNG plots of bench figures (matplotlib, from the `bench` extra; imported only for --plot)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")  # no screen here
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("--plot needs matplotlib: .venv/bin/pip install -e '.[bench]'") from exc
    return plt


def latency_png(latencies_ms: list[float], path: Path, title: str, target_ms: float) -> None:
    """Histogram and cumulative share of acknowledgement latencies, p50/p95 and the target."""
    plt = _pyplot()
    ordered = sorted(latencies_ms)
    n = len(ordered)
    p50 = ordered[max(0, -(-50 * n // 100) - 1)]
    p95 = ordered[max(0, -(-95 * n // 100) - 1)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(ordered, bins=40, color="#4c72b0", alpha=0.8)
    ax.set_xlabel("APPEND → acknowledgement at the SMTP sink (ms)")
    ax.set_ylabel("mails")
    cdf = ax.twinx()
    cdf.plot(ordered, [(i + 1) / n for i in range(n)], color="#222222", linewidth=1.2)
    cdf.set_ylabel("cumulative share")
    cdf.set_ylim(0, 1.01)
    for value, label, style in ((p50, "p50", ":"), (p95, "p95", "--")):
        ax.axvline(value, color="#dd8452", linestyle=style, label=f"{label} {value:.0f} ms")
    ax.axvline(target_ms, color="#c44e52", label=f"target p95 < {target_ms:.0f} ms")
    ax.legend(loc="center right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def throughput_png(
    series: dict[str, list[tuple[int, float]]], path: Path, title: str, target: float | None = None
) -> None:
    """msg/s against corpus size, one line per system, and the target."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, points in series.items():
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=name)
    sizes = sorted({n for points in series.values() for n, _ in points})
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    if target is not None:
        ax.axhline(target, color="#c44e52", linestyle="--", label=f"target {target:.0f} msg/s")
    ax.set_xlabel("mails in the corpus")
    ax.set_ylabel("mails per second (wall)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
