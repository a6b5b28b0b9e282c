"""The reliability plot of a version: accuracy against calibrated (and raw) confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def reliability_plot(report: dict[str, Any], path: Path) -> Path:
    """Draw ``automation_report``'s reliability tables (raw and calibrated) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for key, name in (("reliability_raw", "raw"), ("reliability", "calibrated")):
        rows = report.get(key) or []
        ece = report.get("ece_raw" if key == "reliability_raw" else "ece", 0.0)
        ax.plot(
            [r["confidence"] for r in rows],
            [r["accuracy"] for r in rows],
            marker="o",
            label=f"{name} (ECE {ece:.3f})",
        )
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy on held-out data")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
