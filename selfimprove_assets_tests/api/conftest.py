"""Real tiny models for the API tests: trained, registered in MLflow, set as defaults.

The session fixture generates a handful of synthetic documents with the documents library,
extracts their words, builds a tiny backbone from their vocabulary, trains a classifier and an
extractor for a few steps, plus a second classifier version (warm start from the first) for the
hot-swap test, and registers all three in a temporary SQLite MLflow store. Each test then gets
its own feedback store (SQLite, or PostgreSQL through ``store_url``) with v1 as the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from selfimprove_assets.api.app import create_app
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.api.loading import registry_loader
from selfimprove_assets.api.serving import PredictorProvider
from selfimprove_assets.lib.settings import Settings
from selfimprove_assets.lib.store.repository import FeedbackStore

REVIEWER_TOKEN = "reviewer-secret-token-1"
ADMIN_TOKEN = "admin-secret-token-2"
TOKENS = f"{REVIEWER_TOKEN}:reviewer,{ADMIN_TOKEN}:admin"
REVIEWER = {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class TinyModels:
    root: Path
    tracking_uri: str
    artifact_root: str
    backbone: str
    files: list[Path]
    doc_types: list[str]
    labels: list[str]
    registry_names: dict[str, str] = field(default_factory=dict)
    run_ids: dict[tuple[str, str], str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    from selfimprove_assets.lib.documents.alignment import align_entities
    from selfimprove_assets.lib.documents.corpus import to_training_example
    from selfimprove_assets.lib.documents.labels import read_labels
    from selfimprove_assets.lib.documents.pages import extract_pages
    from selfimprove_assets.lib.documents.synth.generator import generate_corpus
    from selfimprove_assets.lib.models.backbone import configure_runtime, save_tiny_backbone
    from selfimprove_assets.lib.models.registry import ModelRegistry, registered_name
    from selfimprove_assets.lib.models.training import TrainConfig, train

    logging.getLogger("selfimprove_assets").setLevel(logging.WARNING)
    configure_runtime()
    root = tmp_path_factory.mktemp("tiny-models")
    generate_corpus(root / "corpus", n=12, seed=7, scan_share=0.0)
    docs = read_labels(root / "corpus")
    examples = []
    vocabulary: list[str] = []
    for doc in docs:
        pages = extract_pages(doc.file)
        tags = align_entities(pages.words, doc.entities).tags
        examples.append(to_training_example(doc.document_id, doc.doc_type, pages, tags))
        vocabulary += [w.text for w in pages.words]
    backbone = str(save_tiny_backbone(root / "backbone", vocabulary))
    config = TrainConfig(
        epochs=1, max_steps=3, max_length=128, stride=32, batch_size=8, progress=False
    )
    classifier = train("classifier", examples, backbone=backbone, config=config)
    extractor = train("extractor", examples, backbone=backbone, config=config)
    classifier_v2 = train("classifier", examples, parent=classifier.bundle, config=config)

    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    artifact_root = str(root / "artifacts")
    registry = ModelRegistry(tracking_uri, artifact_root=artifact_root)
    models = TinyModels(
        root=root,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        backbone=backbone,
        files=[d.file for d in docs],
        doc_types=sorted({d.doc_type for d in docs}),
        labels=sorted({e.label for d in docs for e in d.entities}),
    )
    for result in (classifier, extractor, classifier_v2):
        model_type = result.bundle.model_type
        run_id = registry.start_run(model_type)
        version = registry.register_bundle(run_id, result.bundle)
        registry.end_run(run_id)
        models.registry_names[model_type] = registered_name(model_type)
        models.run_ids[(model_type, version.version)] = run_id
    for model_type in ("classifier", "extractor"):
        registry.set_alias(registered_name(model_type), "champion", "1")
    return models


def register(
    store: FeedbackStore,
    models: TinyModels,
    model_type: str,
    version: str,
    *,
    parent: str | None = None,
    make_default: bool = True,
) -> None:
    """Mirror a registered MLflow version in the model table (and make it the default)."""
    store.models.register_version(
        model_type=model_type,
        version=version,
        registry_name=models.registry_names[model_type],
        mlflow_run_id=models.run_ids.get((model_type, version)),
        parent_version=parent,
    )
    if make_default:
        thresholds = {"doc_type": 0.8} if model_type == "classifier" else {"*": 0.8}
        store.models.set_default(model_type, version, thresholds=thresholds)


@dataclass
class ApiHarness:
    app: object
    client: TestClient
    store: FeedbackStore
    provider: PredictorProvider
    settings: Settings
    models: TinyModels

    def upload(self, path: Path | None = None, *, headers: dict[str, str] | None = None, **form):
        path = path or self.models.files[0]
        with path.open("rb") as handle:
            return self.client.post(
                "/v1/documents",
                files={"file": (path.name, handle, "application/pdf")},
                data=form or None,
                headers=REVIEWER if headers is None else headers,
            )


ApiFactory = Callable[..., ApiHarness]


@pytest.fixture
def make_api(tiny_models: TinyModels, tmp_path: Path) -> Iterator[ApiFactory]:
    """Build an app over a fresh store; ``defaults=False`` leaves the model table empty."""
    made: list[tuple[TestClient, FeedbackStore]] = []

    def factory(
        url: str | None = None,
        *,
        defaults: bool = True,
        config: ApiConfig | None = None,
        store: FeedbackStore | None = None,
        raise_server_exceptions: bool = True,
        home: Path | None = None,
    ) -> ApiHarness:
        home = home or tmp_path / f"home{len(made)}"
        settings = Settings(
            home=home,
            database_url=url or f"sqlite:///{home / 'selfimprove.db'}",
            mlflow_tracking_uri=tiny_models.tracking_uri,
            mlflow_artifact_root=tiny_models.artifact_root,
            backbone=tiny_models.backbone,
            api_tokens=TOKENS,
        )
        settings.ensure_dirs()
        store = store or FeedbackStore(settings.database_url)
        if defaults:
            register(store, tiny_models, "classifier", "1")
            register(store, tiny_models, "extractor", "1")
        provider = PredictorProvider(store, registry_loader(settings), refresh_seconds=0)
        app = create_app(
            settings,
            store=store,
            predictor_provider=provider,
            config=config or ApiConfig(model_refresh_seconds=0),
        )
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        made.append((client, store))
        return ApiHarness(app, client, store, provider, settings, tiny_models)

    yield factory
    for client, store in made:
        client.close()
        store.dispose()
