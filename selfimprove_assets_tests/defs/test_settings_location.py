"""The code location takes its rules from the settings, shows them, and never shows a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import (
    RepositorySnap,
    ResourceConfigEnvVarSnap,
)
from dagster_shared.serdes import serialize_value

from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.resources import FeedbackStoreResource, TrainingJobResource
from selfimprove_assets.defs.rules import LoopRules, MonitorRules, PromotionRules, ThresholdRules
from selfimprove_assets.defs.thresholds import PromotionPolicyConfig, ThresholdConfig
from selfimprove_assets.lib.defaults import (
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
    TrainingRecipe,
    TrainingSettings,
)
from selfimprove_assets.lib.models.training import TrainConfig
from selfimprove_assets.lib.promotion.policy import PromotionPolicy
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets.lib.store.repository import FeedbackStore
from selfimprove_assets.lib.types import RetrainState
from selfimprove_assets_tests.lib.store.factories import commit_reviews

# the [monitor] evidence and re-arm rules at their defaults
EVIDENCE = {
    "decision_power": 0.8,
    "slice_share": 0.2,
    "min_slice_documents": 20,
    "rearm_ratio": 1.0,
    "max_attempts": 3,
}


def test_the_code_locations_sensors_use_the_settings_rules(home: Path) -> None:
    (home / "selfimprove.toml").write_text(
        "[monitor]\nmin_commits = 12\nmin_corrections = 40\n"
        # a slice of half the documents and no minimum: the gauntlet can decide at 14 (below)
        "slice_share = 0.5\nmin_slice_documents = 0\n",
        encoding="utf-8",
    )
    env = {"SELFIMPROVE_HOME": str(home), "SELFIMPROVE_MONITOR_MIN_CORRECTIONS": "15"}
    settings = load_settings(env)
    store = FeedbackStore(settings.database_url)
    store.models.register_version(
        model_type="classifier", version="1", registry_name="doc-classifier"
    )
    store.models.set_default(
        "classifier", "1", thresholds={"doc_type": 0.9}, state=RetrainState.IDLE
    )
    defs = build_definitions(settings)  # no keyword rules: the settings' [monitor] section
    sensor = defs.get_repository_def().get_sensor_def("classifier_accuracy_sensor")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"store": FeedbackStoreResource(database_url=settings.database_url)}

    def tick(cursor: str | None) -> Any:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources=resources
        )
        return sensor.evaluate_tick(context)

    commit_reviews(store, 11, wrong=11, start=0)
    first = tick(None)
    assert not first.run_requests
    assert "need 12" in (first.skip_message or "")  # min_commits from the file
    commit_reviews(store, 9, wrong=2, start=11)  # 20 commits, 13 wrong: below, 13 corrections
    second = tick(first.cursor)
    assert not second.run_requests
    assert "a retrain needs 15" in (second.skip_message or "")  # the variable over the file
    commit_reviews(store, 4, wrong=4, start=20)  # 17 corrections
    assert len(tick(second.cursor).run_requests) == 1


def test_the_ui_shows_the_rules_in_effect(home: Path) -> None:
    env = {
        "SELFIMPROVE_HOME": str(home),
        "SELFIMPROVE_THRESHOLDS_FLOOR": "0.8",
        "SELFIMPROVE_TRAINING_EPOCHS": "7",
    }
    settings = load_settings(env)
    defs = build_definitions(settings, min_commits=5)  # a test's override on top
    snap = RepositorySnap.from_def(defs.get_repository_def())
    shown = {r.name: r.configured_values for r in snap.resources or []}
    assert shown["rules"]["thresholds"] == '{"floor": 0.8, "margin": 0.05}'
    assert (
        json.loads(str(shown["rules"]["monitor"]))
        == {"min_commits": 5, "min_corrections": 60} | EVIDENCE
    )
    assert shown["trainer"]["epochs"] == "7"
    assert shown["trainer"]["warm_start_epochs"] == "5"
    metadata = (snap.metadata or {})["settings"]
    assert isinstance(metadata, dg.JsonMetadataValue)
    assert isinstance(metadata.data, dict)
    assert metadata.data["monitor"] == {"min_commits": 5, "min_corrections": 60} | EVIDENCE
    assert metadata.data["training"]["epochs"] == 7


def test_the_ui_never_shows_a_password_put_in_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password, mlflow_password = "pw-9f3c1d", "mlflow-7a2b"
    url = f"postgresql://selfimprove:{password}@db.internal:5432/selfimprove"
    tracking = f"https://team:{mlflow_password}@mlflow.internal/"
    monkeypatch.setenv("SELFIMPROVE_HOME", str(home))
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", url)
    monkeypatch.setenv("SELFIMPROVE_MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("SELFIMPROVE_API_TOKENS", "tok-5e6f:admin:alice")
    monkeypatch.setenv("SELFIMPROVE_ALERT_WEBHOOK_URL", "https://hooks.example/T0/hook-8d4e")
    defs = build_definitions()  # the code location as `dagster dev` loads it
    snap = RepositorySnap.from_def(defs.get_repository_def())
    everything = serialize_value(snap)  # resources, job configs, launchpad defaults, metadata
    for secret in (password, mlflow_password, "tok-5e6f", "hook-8d4e"):
        assert secret not in everything
    shown = {r.name: r.configured_values for r in snap.resources or []}
    assert shown["store"]["database_url"] == ResourceConfigEnvVarSnap(
        name="SELFIMPROVE_DATABASE_URL"
    )
    assert shown["mlflow"]["tracking_uri"] == ResourceConfigEnvVarSnap(
        name="SELFIMPROVE_MLFLOW_TRACKING_URI"
    )
    # the runs still get the real values: Dagster resolves the variable when the resource is used
    store = defs.resources["store"] if defs.resources else None
    assert isinstance(store, FeedbackStoreResource)
    assert store.process_config_and_initialize().database_url == url


def test_a_store_url_from_the_environment_still_opens(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Used directly (the demo's driver, the benchmarks), a resource resolves the variable."""
    url = f"sqlite:///{home / 'from-env.db'}"
    monkeypatch.setenv("SELFIMPROVE_HOME", str(home))
    monkeypatch.setenv("SELFIMPROVE_DATABASE_URL", url)
    resources = build_definitions().resources or {}
    assert isinstance(resources["store"].database_url, dg.EnvVar)
    assert resources["store"].get().documents.count_documents() == 0
    assert (home / "from-env.db").is_file()


def test_run_config_overrides_the_rules_only_where_set() -> None:
    rules = LoopRules.from_settings(
        load_settings({"SELFIMPROVE_HOME": "/tmp/unused"}).with_overrides(
            {"thresholds": {"floor": 0.7}, "promotion": {"alpha": 0.01, "bootstrap": 200}}
        )
    )
    assert ThresholdConfig().thresholds(rules) == ThresholdSettings(margin=0.05, floor=0.7)
    assert ThresholdConfig(threshold_margin=0.02).thresholds(rules) == ThresholdSettings(
        margin=0.02, floor=0.7
    )
    policy, n_boot = PromotionPolicyConfig().policy(rules)
    assert (policy.alpha, n_boot) == (0.01, 200)
    assert policy == PromotionPolicy.from_settings(rules.promotion_settings())
    lenient, _ = PromotionPolicyConfig(require_significant_improvement=False).policy(rules)
    assert lenient.require_significant_improvement_on == []
    assert lenient.alpha == 0.01


def test_the_config_classes_are_derived_from_the_schema() -> None:
    """The rules resource holds no defaults of its own (every field required), the trainer's
    fields are the [training] knobs with the schema's defaults, and TrainConfig inherits the
    operator's knobs: the knobs and their defaults are declared once, in lib.defaults."""
    for name, section, cls in (
        ("monitor", MonitorRules, MonitorSettings),
        ("thresholds", ThresholdRules, ThresholdSettings),
        ("promotion", PromotionRules, PromotionSettings),
    ):
        assert LoopRules.model_fields[name].annotation is section
        assert set(section.model_fields) == set(cls.model_fields)
        assert all(f.is_required() for f in section.model_fields.values())
        for key, field in section.model_fields.items():
            assert field.description == cls.model_fields[key].description
    assert TrainingJobResource().training_settings() == TrainingSettings()
    assert PromotionPolicy() == PromotionPolicy.from_settings(PromotionSettings())
    assert issubclass(TrainConfig, TrainingRecipe)
    assert set(TrainingRecipe.model_fields) <= set(TrainingSettings.model_fields)
