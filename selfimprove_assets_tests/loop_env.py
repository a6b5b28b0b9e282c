"""A whole loop at test size: tiny backbone, real Dagster, MLflow, store, API and training job."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from fastapi.testclient import TestClient

from selfimprove_assets.api.app import create_app
from selfimprove_assets.definitions import build_definitions
from selfimprove_assets.defs.documents.assets import DOCUMENT_ASSET_KEYS
from selfimprove_assets.defs.resources import TrainingJobResource
from selfimprove_assets.defs.training.assets import SMOKE_BASELINES
from selfimprove_assets.lib.documents.labels import read_labels
from selfimprove_assets.lib.documents.synth import generate_corpus
from selfimprove_assets.lib.models.tiny import tiny_backbone_for
from selfimprove_assets.lib.settings import Settings, load_settings
from selfimprove_assets.lib.simulation import ReviewerSimulator
from selfimprove_assets.lib.store.repository import FeedbackStore

TOKEN = "loop-test-token"


BASELINES = ["classifier_baseline", "extractor_baseline"]

# Tiny streams (a few dozen documents) never hold the production slice the evidence rule
# asks for: these loops trigger on detection alone (the rule itself: defs/test_sensors.py).
DETECTION_ALONE = {"decision_power": None}


@dataclass
class LoopEnv:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    store: FeedbackStore
    stream: Path

    @property
    def repo(self) -> Any:
        return self.defs.get_repository_def()

    def materialize(self, keys: Sequence[str], run_config: dict[str, Any] | None = None) -> Any:
        job = self.defs.resolve_implicit_global_asset_job_def()
        return job.execute_in_process(
            instance=self.instance,
            asset_selection=[dg.AssetKey(k) for k in keys],
            run_config=run_config or {},
        )

    def ingest(self, corpus: Path) -> Any:
        """Materializes the document assets from the labeled folder ``corpus``."""
        config = {"ops": {"source_documents": {"config": {"corpus_dir": str(corpus)}}}}
        return self.materialize(DOCUMENT_ASSET_KEYS, config)

    def stream_reviews(self, error_rate: float = 0.0, batch: int = 12) -> dict[str, int]:
        app = create_app(
            Settings(**{**vars(self.settings), "api_tokens": f"{TOKEN}:admin"}), store=self.store
        )
        with TestClient(app) as client:
            sim = ReviewerSimulator(
                "http://test",
                TOKEN,
                error_rate=error_rate,
                rng=random.Random(0),
                client=client,  # type: ignore[arg-type]  # TestClient is an httpx.Client in-process
            )
            docs = read_labels(self.stream)
            for start in range(0, len(docs), batch):
                sim.review_batch(docs[start : start + batch])
        return sim.stats

    def tick(self, model_type: str, cursor: str | None = None) -> Any:
        sensor = self.repo.get_sensor_def(f"{model_type}_accuracy_sensor")
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            definitions=self.defs,
            resources=self.defs.resources,  # type: ignore[arg-type]
        )
        return sensor.evaluate_tick(context)

    def run_retraining(
        self, model_type: str, tags: dict[str, str], run_config: dict[str, Any] | None = None
    ) -> Any:
        job = self.repo.get_job(f"{model_type}_retraining")
        return job.execute_in_process(
            instance=self.instance, tags=tags, run_config=run_config or {}, raise_on_error=False
        )


def loop_env_for(settings: Settings, stream: Path, *, epochs: int, min_commits: int) -> LoopEnv:
    """The loop on ``settings`` in an ephemeral Dagster instance, with a tiny training job of
    ``epochs`` epochs and a trigger that needs ``min_commits`` commits (no corrections)."""
    settings.ensure_dirs()
    trainer = TrainingJobResource(
        epochs=epochs, batch_size=8, learning_rate=1e-2, max_length=128, warm_start_min_steps=0
    )
    settings = settings.with_overrides({"monitor": DETECTION_ALONE})
    defs = build_definitions(
        settings, min_commits=min_commits, min_corrections=0, resources={"trainer": trainer}
    )
    return LoopEnv(
        settings=settings,
        defs=defs,
        instance=dg.DagsterInstance.ephemeral(),
        store=FeedbackStore(settings.database_url),
        stream=stream,
    )


def build_loop_env(root: Path, *, n_train: int = 36, n_stream: int = 36) -> LoopEnv:
    corpus = root / "corpus"
    stream = root / "stream"
    generate_corpus(corpus, n=n_train, seed=0, scenario="baseline", scan_share=0.0)
    generate_corpus(stream, n=n_stream, seed=7, scenario="new_vocabulary", scan_share=0.0)
    backbone = tiny_backbone_for([corpus, stream], root / "tiny-backbone")
    settings = load_settings(
        {"SELFIMPROVE_HOME": str(root / "home"), "SELFIMPROVE_BACKBONE": str(backbone)}
    )
    env = loop_env_for(settings, stream, epochs=4, min_commits=10)
    assert env.ingest(corpus).success
    assert env.materialize(BASELINES, SMOKE_BASELINES).success
    return env
