"""The deployment a production test starts: its documents and backbone (``World``), where its
stores live (``Backend``), its whole configuration as environment variables, and V1 trained on
its instance before the services start (``bootstrap``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg

from selfimprove_assets.lib.documents.labels import LabeledDocument, read_labels, write_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.settings import load_settings
from selfimprove_assets_tests.production.services import PROJECT_ROOT

BIN = Path(sys.executable).parent
REVIEWER_TOKEN = "production-reviewer-token"
ADMIN_TOKEN = "production-admin-token"
REVIEWER = {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ONE_TYPE = "intake_form"

# The loop's rules and recipe for a test-size stream on the tiny backbone, set the way a team
# sets them (lib/settings.py: SELFIMPROVE_<SECTION>_<KEY>). The promotion policy promotes on
# non-regression with room for the tiny models' noise: what is under test is the path (the
# daemon's sensor, the run, the promotion, the swap), not the policy, which has its own tests.
LOOP_SETTINGS: dict[str, str] = {
    "SELFIMPROVE_MONITOR_MIN_COMMITS": "10",
    "SELFIMPROVE_MONITOR_MIN_CORRECTIONS": "0",
    # a few dozen reviews never give the production slice the power the default waits for
    # (monitor.decision_power): detection alone triggers, as in the other test-size loops
    "SELFIMPROVE_MONITOR_DECISION_POWER": "none",
    "SELFIMPROVE_TRAINING_EPOCHS": "4",
    "SELFIMPROVE_TRAINING_WARM_START_EPOCHS": "3",
    "SELFIMPROVE_TRAINING_MIN_STEPS": "0",
    "SELFIMPROVE_TRAINING_WARM_START_MIN_STEPS": "0",
    "SELFIMPROVE_TRAINING_LEARNING_RATE": "0.01",
    "SELFIMPROVE_TRAINING_FULL_FINETUNE_TYPES": "",
    "SELFIMPROVE_TRAINING_MAX_LENGTH": "128",  # the tiny backbone's positions
    "SELFIMPROVE_PROMOTION_REQUIRE_SIGNIFICANT_IMPROVEMENT_ON": "",
    "SELFIMPROVE_PROMOTION_GOLDEN_TOLERANCE": "1.0",
    "SELFIMPROVE_PROMOTION_TRIGGER_FIELD_TOLERANCE": "1.0",
    "SELFIMPROVE_PROMOTION_BOOTSTRAP": "200",
}


@dataclass(frozen=True)
class World:
    """What a test deployment starts from: a labeled corpus, a drifted stream, a backbone."""

    corpus: Path
    stream: list[LabeledDocument]
    backbone: Path


def build_world(root: Path, *, n_train: int = 36, n_stream: int = 40) -> World:
    """One document type (so only the extractor has a loop), the stream with other captions
    for the same fields (the ``new_vocabulary`` drift)."""
    from selfimprove_assets.lib.models.tiny import tiny_backbone_for

    corpus, stream = root / "corpus", root / "stream"
    generate_corpus(corpus, n=n_train, seed=0, scenario="baseline", scan_share=0.0)
    generate_corpus(stream, n=n_stream, seed=7, scenario="new_vocabulary", scan_share=0.0)
    for folder in (corpus, stream):
        write_labels(folder, [replace(d, doc_type=ONE_TYPE) for d in read_labels(folder)])
    backbone = tiny_backbone_for([corpus, stream], root / "tiny-backbone")
    return World(corpus=corpus, stream=read_labels(stream), backbone=backbone)


@dataclass(frozen=True)
class Backend:
    """Where the feedback store and Dagster's own storage live."""

    name: str
    database_url: str | None = None  # None: the embedded SQLite file under SELFIMPROVE_HOME
    dagster_yaml: Path = PROJECT_ROOT / "dagster.yaml"
    dagster_env: Mapping[str, str] = field(default_factory=dict)


def sqlite_backend() -> Backend:
    return Backend("sqlite")


def postgres_backend(store_url: str, instance_url: str) -> Backend:
    """Feedback store and Dagster instance in two databases of one PostgreSQL server."""
    parts = urlsplit(instance_url)
    return Backend(
        "postgresql",
        database_url=store_url,
        dagster_yaml=PROJECT_ROOT / "deploy" / "dagster.postgres.yaml",
        dagster_env={
            "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parts.port or 5432),
            "DAGSTER_PG_USER": parts.username or "postgres",
            "DAGSTER_PG_PASSWORD": parts.password or "",
            "DAGSTER_PG_DB": parts.path.lstrip("/"),
        },
    )


def deployment_env(home: Path, backbone: Path, backend: Backend) -> dict[str, str]:
    """The whole configuration of the deployment: nothing but environment variables."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OMP_THREAD_LIMIT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env |= {
        "SELFIMPROVE_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "SELFIMPROVE_BACKBONE": str(backbone),
        "SELFIMPROVE_API_TOKENS": f"{REVIEWER_TOKEN}:reviewer,{ADMIN_TOKEN}:admin",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **LOOP_SETTINGS,
        **backend.dagster_env,
    }
    if backend.database_url:
        env["SELFIMPROVE_DATABASE_URL"] = backend.database_url
    return env


@contextmanager
def patched_environ(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bootstrap(world: World, env: Mapping[str, str]) -> None:
    """Ingest the corpus and train V1 of every model the data needs, on the deployment's
    instance (what ``selfimprove ingest`` and ``selfimprove train-baseline`` run)."""
    from selfimprove_assets.definitions import build_definitions
    from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
    from selfimprove_assets.defs.training.assets import SMOKE_BASELINES

    with patched_environ(env):
        settings = load_settings(dict(env))
        with dg.DagsterInstance.get() as instance:
            job = build_definitions(settings).resolve_implicit_global_asset_job_def()
            config = {"ops": {"source_documents": {"config": {"corpus_dir": str(world.corpus)}}}}
            documents = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey(k) for k in DOCUMENT_ASSET_KEYS],
                run_config=config,
            )
            assert documents.success, "the documents group did not materialize"
            # tiny models may stay near chance on the golden set: V1 becomes the default anyway
            baselines = job.execute_in_process(
                instance=instance,
                asset_selection=[
                    dg.AssetKey("classifier_baseline"),
                    dg.AssetKey("extractor_baseline"),
                ],
                run_config=SMOKE_BASELINES,
            )
            assert baselines.success, "the baselines did not materialize"
