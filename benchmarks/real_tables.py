"""The tables ``bench_real`` prints: one row per training size, and the correction cycle."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = [
        ("protocol", "words"),
        ("size", "forms"),
        ("micro_f1", "micro-F1"),
        ("f1_question", "question"),
        ("f1_answer", "answer"),
        ("f1_header", "header"),
        ("ceiling", "ceiling"),
        ("share_of_ceiling", "share"),
        ("alignment_coverage", "aligned"),
        ("ocr_word_recall", "OCR recall"),
        ("training_minutes", "train min"),
    ]
    print("| " + " | ".join(title for _, title in columns) + " |")
    print("|" + "|".join(" ---: " for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(_fmt(row.get(key)) for key, _ in columns) + " |")


def print_cycle(cycle: dict[str, Any]) -> None:
    retrain = cycle["retrain"] or {}
    print("| correction cycle | figure |\n| --- | --- |")
    for name, value in (
        ("V1 forms / streamed forms", f"{cycle['v1_forms']} / {cycle['stream_forms']}"),
        ("test micro-F1 before (V1)", _fmt(cycle["test_micro_f1_before"])),
        ("forms reviewed when the sensor fired", _fmt(retrain.get("reviewed_before_trigger"))),
        ("candidate", _fmt(retrain.get("candidate_version"))),
        ("promoted", _fmt(retrain.get("promoted"))),
        ("test micro-F1 after (the default then)", _fmt(cycle["test_micro_f1_after"])),
        ("rules that failed", "; ".join(retrain.get("failed") or []) or "-"),
    ):
        print(f"| {name} | {value} |")
