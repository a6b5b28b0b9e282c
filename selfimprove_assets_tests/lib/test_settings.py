"""One configuration: defaults, ``selfimprove.toml``, ``SELFIMPROVE_*`` variables, errors."""

from __future__ import annotations

from operator import attrgetter
from pathlib import Path

import pytest

from selfimprove_assets.lib.defaults import (
    MonitorSettings,
    PromotionSettings,
    ThresholdSettings,
    TrainingSettings,
)
from selfimprove_assets.lib.settings import Settings, SettingsError, load_settings, redact_url

# the [monitor] evidence and re-arm rules at their defaults
EVIDENCE = {
    "decision_power": 0.8,
    "slice_share": 0.2,
    "min_slice_documents": 20,
    "rearm_ratio": 1.0,
    "max_attempts": 3,
}


def _load(home: Path, **extra: str) -> Settings:
    """The settings of ``home`` with these ``SELFIMPROVE_*`` variables (and no others)."""
    return load_settings({"SELFIMPROVE_HOME": str(home), **extra})


def test_defaults_are_the_values_the_demo_proved(home: Path) -> None:
    settings = _load(home)
    assert settings.config_file is None
    assert settings.monitor == MonitorSettings(min_commits=30, min_corrections=60)
    assert settings.thresholds == ThresholdSettings(margin=0.05, floor=0.5)
    assert settings.promotion.alpha == 0.05
    assert settings.promotion.require_significant_improvement_on == ("trigger fields",)
    assert settings.training.warm_start_epochs == 5
    assert settings.training.classifier_epochs == 6
    assert settings.database_url == f"sqlite:///{home.resolve() / 'selfimprove.db'}"


@pytest.mark.parametrize(
    ("variable", "value", "setting", "expected"),
    [
        ("SELFIMPROVE_MONITOR_MIN_COMMITS", "12", "monitor.min_commits", 12),
        ("SELFIMPROVE_THRESHOLDS_FLOOR", "0.9", "thresholds.floor", 0.9),
        (
            "SELFIMPROVE_PROMOTION_CRITICAL",
            "npi=0, total=0.01",
            "promotion.critical",
            {"npi": 0.0, "total": 0.01},
        ),
        (
            "SELFIMPROVE_PROMOTION_PRODUCTION_TOLERANCE",
            "0.03",
            "promotion.production_tolerance",
            0.03,
        ),
        (
            "SELFIMPROVE_PROMOTION_REQUIRE_SIGNIFICANT_IMPROVEMENT_ON",
            "",
            "promotion.require_significant_improvement_on",
            (),
        ),
        ("SELFIMPROVE_TRAINING_WARM_START_EPOCHS", "none", "training.warm_start_epochs", None),
        ("SELFIMPROVE_TRAINING_TRAIN_2D_EMBEDDINGS", "yes", "training.train_2d_embeddings", True),
        (
            "SELFIMPROVE_TRAINING_FULL_FINETUNE_TYPES",
            "classifier,extractor",
            "training.full_finetune_types",
            ("classifier", "extractor"),
        ),
    ],
)
def test_environment_variables_set_every_type(
    home: Path, variable: str, value: str, setting: str, expected: object
) -> None:
    got = attrgetter(setting)(_load(home, **{variable: value}))
    assert got == expected and type(got) is type(expected)


TOML = """
database_url = "sqlite:////tmp/elsewhere.db"

[monitor]
min_commits = 80
min_corrections = 40

[thresholds]
floor = 0.9

[promotion]
critical = { npi = 0.0 }
trigger_test = "each"

[training]
epochs = 4
learning_rate = 1e-2
classifier_epochs = "none"
"""


def test_toml_in_home_is_read(home: Path) -> None:
    (home / "selfimprove.toml").write_text(TOML, encoding="utf-8")
    settings = _load(home)
    assert settings.config_file == (home / "selfimprove.toml").resolve()
    assert settings.database_url == "sqlite:////tmp/elsewhere.db"
    assert settings.monitor == MonitorSettings(min_commits=80, min_corrections=40)
    assert settings.thresholds == ThresholdSettings(margin=0.05, floor=0.9)
    assert settings.promotion == PromotionSettings(critical={"npi": 0.0}, trigger_test="each")
    assert settings.training == TrainingSettings(
        epochs=4, learning_rate=1e-2, classifier_epochs=None
    )


def test_which_file_is_read(home: Path, tmp_path: Path) -> None:
    (home / "selfimprove.toml").write_text("[monitor]\nmin_commits = 1\n", encoding="utf-8")
    Path("selfimprove.toml").write_text("[monitor]\nmin_commits = 2\n", encoding="utf-8")
    explicit = tmp_path / "team.toml"
    explicit.write_text("[monitor]\nmin_commits = 3\n", encoding="utf-8")
    assert _load(home).monitor.min_commits == 2  # ./ before the home
    chosen = _load(home, SELFIMPROVE_CONFIG=str(explicit))
    assert (chosen.monitor.min_commits, chosen.config_file) == (3, explicit.resolve())
    Path("selfimprove.toml").unlink()
    assert _load(home).monitor.min_commits == 1
    with pytest.raises(SettingsError, match="SELFIMPROVE_CONFIG=.*missing.toml: no such file"):
        _load(home, SELFIMPROVE_CONFIG=str(tmp_path / "missing.toml"))


def test_environment_over_file_over_defaults(home: Path) -> None:
    (home / "selfimprove.toml").write_text(TOML, encoding="utf-8")
    settings = _load(
        home,
        SELFIMPROVE_MONITOR_MIN_COMMITS="7",
        SELFIMPROVE_DATABASE_URL="sqlite:////tmp/from-env.db",
    )
    assert settings.monitor.min_commits == 7  # env over the file
    assert settings.monitor.min_corrections == 40  # the file over the default
    assert settings.thresholds.margin == 0.05  # the default
    assert settings.database_url == "sqlite:////tmp/from-env.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[monitor]\nmin_comits = 3\n",
            r"unknown key \[monitor\] min_comits in .*selfimprove.toml",
        ),
        ("[monitors]\nmin_commits = 3\n", r"unknown key monitors in .*selfimprove.toml"),
        ("tokens = 'x'\n", r"unknown key tokens in .*selfimprove.toml"),
        ("[monitor]\nmin_commits = '30'\n", r"\[monitor\] min_commits in .*toml: expected int"),
        ("[monitor]\nmin_commits = -1\n", r"\[monitor\] min_commits in .*toml: must be >= 0"),
        ("[promotion]\nalpha = 2\n", r"\[promotion\] alpha in .*toml: must be in \(0, 1\)"),
        (
            "[promotion]\ncritical = { npi = 'x' }\n",
            r"\[promotion\] critical in .*toml: expected Mapping",
        ),
        ("[training]\nselect_on = 'f1'\n", r"\[training\] select_on in .*toml: must be one of"),
        ("[training]\nlora_dropout = true\n", r"\[training\] lora_dropout in .*expected float"),
        ("monitor = 3\n", r"\[monitor\] in .*selfimprove.toml must be a table"),
        ("api_tokens = 'tok:admin'\n", "secrets are read from SELFIMPROVE_API_TOKENS only"),
        (
            "database_url = 'postgresql://u:pw@db/x'\n",
            "database_url in .*toml holds a password; set SELFIMPROVE_DATABASE_URL instead",
        ),
        ("[monitor\n", r"cannot read .*selfimprove.toml"),
    ],
)
def test_file_errors_name_the_key_and_the_file(home: Path, text: str, message: str) -> None:
    (home / "selfimprove.toml").write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        _load(home)


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("SELFIMPROVE_MONITOR_MIN_COMIT", "3", "unknown key SELFIMPROVE_MONITOR_MIN_COMIT"),
        ("SELFIMPROVE_TRAINING_EPOCHS", "many", "SELFIMPROVE_TRAINING_EPOCHS in the environment"),
        ("SELFIMPROVE_TRAINING_TRAIN_2D_EMBEDDINGS", "maybe", "not a boolean"),
        ("SELFIMPROVE_THRESHOLDS_FLOOR", "1.5", r"SELFIMPROVE_THRESHOLDS_FLOOR .*must be in"),
        ("SELFIMPROVE_PROMOTION_CRITICAL", "npi", "SELFIMPROVE_PROMOTION_CRITICAL"),
    ],
)
def test_environment_errors_name_the_variable(
    home: Path, var: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        _load(home, **{var: value})


def test_overrides_are_checked_like_the_file(home: Path) -> None:
    settings = _load(home)
    quick = settings.with_overrides({"monitor": {"min_corrections": 0}, "training": {"epochs": 4}})
    assert (quick.monitor.min_corrections, quick.monitor.min_commits) == (0, 30)
    assert quick.training.epochs == 4
    assert settings.monitor.min_corrections == 60  # the original is unchanged
    with pytest.raises(SettingsError, match=r"\[monitor\] min_commits in overrides: must be"):
        settings.with_overrides({"monitor": {"min_commits": -3}})
    with pytest.raises(SettingsError, match=r"unknown section \[monitr\]"):
        settings.with_overrides({"monitr": {"min_commits": 3}})


def test_public_view_hides_secrets(home: Path) -> None:
    settings = _load(
        home,
        SELFIMPROVE_DATABASE_URL="postgresql://selfimprove:s3cret-pw@db:5432/selfimprove",
        SELFIMPROVE_MLFLOW_TRACKING_URI="https://bob:mlflow-pw@mlflow.example/",
        SELFIMPROVE_API_TOKENS="tok-abc:admin:alice,tok-def:reviewer:bob",
    )
    public = repr(settings.public())
    for secret in ("s3cret-pw", "mlflow-pw", "tok-abc", "tok-def"):
        assert secret not in public
    assert settings.public()["database_url"] == "postgresql://selfimprove:***@db:5432/selfimprove"
    assert settings.public()["monitor"] == {"min_commits": 30, "min_corrections": 60} | EVIDENCE
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_the_example_file_documents_every_key_with_its_default(home: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "selfimprove.example.toml"
    settings = _load(home, SELFIMPROVE_CONFIG=str(example))
    assert settings.config_file == example
    defaults = _load(home)
    assert settings.rules() == defaults.rules()
    text = example.read_text(encoding="utf-8")
    for section, values in defaults.rules().items():
        assert f"[{section}]" in text
        for key in values:
            assert f"{key} = " in text, f"[{section}] {key} is not documented"
    for key in ("home", "database_url", "mlflow_tracking_uri", "mlflow_artifact_root", "backbone"):
        assert f"# {key} = " in text


def test_ensure_dirs_makes_a_local_artifact_root_only(home: Path, tmp_path: Path) -> None:
    """A remote artifact root (the compose file's ``mlflow-artifacts://mlflow:5000/...``) is
    the server's: the API, whose working directory in the image is not writable, once failed at
    start making a folder named ``mlflow-artifacts:`` there."""
    local = tmp_path / "artifacts"
    load_settings(
        {"SELFIMPROVE_HOME": str(home), "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT": str(local)}
    ).ensure_dirs()
    assert local.is_dir()
    as_uri = tmp_path / "as-uri"
    load_settings(
        {"SELFIMPROVE_HOME": str(home), "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT": as_uri.as_uri()}
    ).ensure_dirs()
    assert as_uri.is_dir()
    for remote in ("mlflow-artifacts://mlflow:5000/selfimprove", "s3://bucket/mlflow"):
        load_settings(
            {"SELFIMPROVE_HOME": str(home), "SELFIMPROVE_MLFLOW_ARTIFACT_ROOT": remote}
        ).ensure_dirs()
    assert sorted(p.name for p in Path.cwd().iterdir()) == []  # nothing made in the cwd
