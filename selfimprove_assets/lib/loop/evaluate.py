"""The gauntlet: default and candidate side by side on the golden set and the production slice,
the promotion decision with its reasons, and the figures as MLflow metrics on the candidate's
run (so the MLflow UI compares the champion and its candidates)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric

from selfimprove_assets.lib.automation.fit import golden_automation
from selfimprove_assets.lib.defaults import AutomationSettings
from selfimprove_assets.lib.evaluation.compare import ComparisonReport
from selfimprove_assets.lib.evaluation.scoring import compare_scores, score
from selfimprove_assets.lib.loop.cycle import attempt_name
from selfimprove_assets.lib.models.dataset import read_dataset
from selfimprove_assets.lib.promotion.policy import TRIGGER_FIELDS, PromotionPolicy, decide

_METRIC_NAME = re.compile(r"[^0-9A-Za-z_\-. /]")


def evaluation_metrics(reports: Mapping[str, ComparisonReport]) -> dict[str, float]:
    """``<set>/candidate``, ``<set>/champion`` and ``<set>/delta`` for the overall figure and
    per field (``<set>/<field>/candidate`` ...), plus the sample size: MLflow metric names."""
    out: dict[str, float] = {}
    for dataset, report in reports.items():
        out[f"{dataset}/n_documents"] = float(report.n_documents)
        rows = {"": report.overall} | {f"{k}/": v for k, v in report.fields.items()}
        rows |= {f"{k}/": v for k, v in report.groups.items()}
        for prefix, comp in rows.items():
            key = _METRIC_NAME.sub("_", f"{dataset}/{prefix}")
            for which, value in (
                ("candidate", comp.candidate),
                ("champion", comp.default),
                ("delta", comp.delta),
            ):
                if value is not None:
                    out[f"{key}{which}"] = float(value)
    return out


def log_evaluation(client: MlflowClient, run_id: str, report: dict[str, Any], step: int) -> None:
    """The report as an artifact and its figures as metrics of the candidate's run; the
    decision as run tags."""
    client.log_dict(run_id, report, "evaluation/report.json")
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, step) for k, v in report["metrics"].items()]
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i : i + 500])
    decision = report["decision"]
    client.set_tag(run_id, "decision", "promote" if decision["promote"] else "reject")
    client.set_tag(run_id, "champion_version", report["default_version"])


@dataclass(frozen=True)
class Evaluation:
    """``report`` is the asset's value (and the JSON artifact); ``comparisons`` the reports."""

    report: dict[str, Any]
    comparisons: dict[str, ComparisonReport]

    @property
    def promote(self) -> bool:
        return bool(self.report["decision"]["promote"])

    def markdown(self) -> str:
        return "\n\n".join(f"### {k}\n\n{v.to_markdown()}" for k, v in self.comparisons.items())


def evaluate_candidate(
    tracking_uri: str,
    model_type: str,
    candidate: Mapping[str, Any],
    golden_test_set: str,
    policy: PromotionPolicy,
    *,
    n_boot: int,
    reports_dir: Path,
    client: MlflowClient | None = None,
    automation: AutomationSettings | None = None,
) -> Evaluation:
    """Score the default (the candidate's parent) and the candidate, decide, write the report
    (``reports_dir``) and log it to the candidate's MLflow run. The decision also compares
    their automation rates at their cut-offs on the golden set (``automation``'s tolerance)."""
    from selfimprove_assets.lib.models.names import model_uri
    from selfimprove_assets.lib.models.registry import load_predictor

    automation = automation or AutomationSettings()
    predictors = {
        which: load_predictor(model_uri(model_type, candidate[key]), tracking_uri)
        for which, key in (("default", "parent_version"), ("candidate", "version"))
    }
    rates: dict[str, float | None] = {}
    groups = {TRIGGER_FIELDS: list(candidate["trigger_fields"])}
    reports: dict[str, ComparisonReport] = {}
    scores: dict[str, dict[str, float]] = {}
    candidate_golden: dict[str, Any] = {}
    sets = {"golden": golden_test_set, "production": candidate.get("holdout_path")}
    for name, path in sets.items():
        if not path:
            continue
        examples = read_dataset(path)
        if not examples:
            continue
        d, c = score(predictors["default"], examples), score(predictors["candidate"], examples)
        reports[name] = compare_scores(model_type, d, c, dataset=name, n_boot=n_boot, groups=groups)
        scores[name] = {"default": d.headline, "candidate": c.headline}
        if name == "golden":
            candidate_golden = c.to_dict()
            rates = {k: golden_automation(p, examples) for k, p in predictors.items()}
    decision = decide(
        policy,
        reports["golden"],
        reports.get("production"),
        candidate["trigger_fields"],
        automation=(rates.get("default"), rates.get("candidate")),
        automation_tolerance=automation.gauntlet_tolerance,
    )
    cycle_id, attempt = candidate["cycle_id"], candidate["attempt"]
    report = {
        "model_type": model_type,
        "cycle_id": cycle_id,
        "attempt": attempt,
        "name": candidate.get("name") or attempt_name(cycle_id, attempt),
        "default_version": candidate["parent_version"],
        "candidate_version": candidate["version"],
        "trigger_fields": candidate["trigger_fields"],
        "policy": policy.to_dict(),
        "decision": decision.to_dict(),
        "scores": scores,
        "automation": rates,
        "metrics": evaluation_metrics(reports)
        | {f"golden/automation_rate/{k}": v for k, v in rates.items() if v is not None},
        "candidate_golden": candidate_golden,
        "comparisons": {k: v.to_dict() for k, v in reports.items()},
    }
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / f"{cycle_id}-a{attempt}-evaluation.json"
    path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    report["report_path"] = str(path)
    if client is not None and candidate.get("run_id"):
        log_evaluation(client, candidate["run_id"], report, step=attempt)
    return Evaluation(report, reports)
