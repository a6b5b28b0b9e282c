"""Which model versions serve predictions, and swapping them without dropping a request.

The model table's default flag (mirrored from the registry's ``champion`` alias on promotion)
says which version of each model type should serve. ``PredictorProvider`` re-reads it at most
every ``refresh_seconds``; when it changed, the new version is loaded (cached by version) and
the *snapshot* of served models is replaced by one reference assignment. A request takes the
snapshot once and keeps it to the end, so an in-flight prediction finishes on the version it
started with and records exactly the versions that made it. A version that fails to load is
logged and the old snapshot keeps serving; the load is retried at the next check.

A model type without a default serves nothing when the data gives it nothing to learn
(``lib.models.needs.model_needed`` on the training data the other model's default recorded): a
one-type corpus is served by the extractor alone, every prediction answering that one type; a
corpus without entities by the classifier alone. Otherwise a missing default refuses uploads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from selfimprove_assets.lib.models.needs import TRAINING_DATA_KEY, DataSummary, model_needed
from selfimprove_assets.lib.models.predictor import DocumentPredictor, ModelPredictor
from selfimprove_assets.lib.store.repository import FeedbackStore, ModelInfo
from selfimprove_assets.lib.types import MODEL_TYPES, PageWords, Prediction

logger = logging.getLogger(__name__)

Loader = Callable[[ModelInfo], ModelPredictor]
"""Load the predictor of one registered version (``models:/<registry_name>/<version>``)."""


class NoDefaultModel(Exception):
    """No default version exists yet for a model type: a baseline must be trained first."""


class ModelUnavailable(Exception):
    """A default version exists but could not be loaded (registry down, files missing)."""


@dataclass(frozen=True)
class ServedModels:
    """An immutable set of predictors: what one request predicts with, start to finish."""

    classifier: ModelPredictor | None
    extractor: ModelPredictor | None
    classifier_version: str | None
    extractor_version: str | None
    not_needed: Mapping[str, str] = field(default_factory=dict)
    """Model types without a default that the data does not need, with the reason."""
    only_type: str | None = None
    """The corpus's one document type, answered when no classifier is needed."""

    @property
    def versions(self) -> dict[str, str | None]:
        return {"classifier": self.classifier_version, "extractor": self.extractor_version}

    def missing(self) -> list[str]:
        """Model types that are needed and have no default: nothing can be served."""
        return [t for t, v in self.versions.items() if v is None and t not in self.not_needed]

    def predict(self, pages: PageWords) -> Prediction:
        prediction = DocumentPredictor(self.classifier, self.extractor).predict_one(pages)
        if self.classifier is None:
            prediction.doc_type = self.only_type
        # The snapshot's versions are the truth, whatever the predictor objects were named.
        prediction.classifier_version = self.classifier_version
        prediction.extractor_version = self.extractor_version
        return prediction


_EMPTY = ServedModels(None, None, None, None)


class PredictorProvider:
    """Resolve, load, cache and hot-swap the default predictors of both model types.

    ``refresh_seconds=0`` re-checks on every call (tests); ``refresh()`` forces a check.
    ``max_cached`` bounds how many loaded versions stay in memory (current ones always stay).
    """

    def __init__(
        self,
        store: FeedbackStore,
        loader: Loader,
        *,
        refresh_seconds: float = 2.0,
        max_cached: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.loader = loader
        self.refresh_seconds = refresh_seconds
        self.max_cached = max(2, max_cached)
        self._clock = clock
        self._snapshot: ServedModels = _EMPTY
        self._checked_at: float | None = None
        self._refresh_lock = threading.Lock()
        self._inference_lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], ModelPredictor] = OrderedDict()
        self.last_error: str | None = None
        self.swaps = 0

    @property
    def snapshot(self) -> ServedModels:
        return self._snapshot

    def current(self) -> ServedModels:
        """The served models, refreshed when the check is due; raises when none can serve."""
        due = self._checked_at is None or (self._clock() - self._checked_at >= self.refresh_seconds)
        if due:
            # Only a caller with nothing to serve waits; the others never queue behind a load:
            # they keep the current snapshot while one thread refreshes.
            cold = bool(self._snapshot.missing())
            if self._refresh_lock.acquire(blocking=cold):
                try:
                    self._refresh_locked()
                finally:
                    self._refresh_lock.release()
        snapshot = self._snapshot
        missing = snapshot.missing()
        if missing:
            if self.last_error:
                raise ModelUnavailable(self.last_error)
            raise NoDefaultModel(
                f"no default {' or '.join(missing)} model yet; train a baseline first "
                "(selfimprove train-baseline)"
            )
        return snapshot

    def refresh(self) -> ServedModels:
        """Check the defaults now (blocking) and return the snapshot in force afterwards."""
        with self._refresh_lock:
            self._refresh_locked()
        return self._snapshot

    def predict(self, pages: PageWords, snapshot: ServedModels | None = None) -> Prediction:
        """Predict with ``snapshot`` (default: the current one).

        Inference is serialized: torch already spreads one forward pass over every core, so
        concurrent passes would only contend for them.
        """
        snapshot = snapshot or self.current()
        with self._inference_lock:
            return snapshot.predict(pages)

    def _load(self, info: ModelInfo) -> ModelPredictor:
        key = (info.model_type, info.version)
        predictor = self._cache.get(key)
        if predictor is None:
            started = time.perf_counter()
            predictor = self.loader(info)
            logger.info(
                "loaded %s version %s in %.1f s",
                info.model_type,
                info.version,
                time.perf_counter() - started,
            )
            self._cache[key] = predictor
        self._cache.move_to_end(key)
        return predictor

    def _refresh_locked(self) -> None:
        self._checked_at = self._clock()
        try:
            defaults = {t: self.store.models.get_default(t) for t in MODEL_TYPES}
        except Exception as exc:  # the store is down: keep serving what we have
            logger.warning("could not read the default models: %s", exc)
            return
        old = self._snapshot
        wanted = {t: (info.version if info else None) for t, info in defaults.items()}
        if wanted == old.versions and not old.missing():
            return
        not_needed, only_type = _not_needed(defaults)
        loaded: dict[str, ModelPredictor | None] = {}
        errors: list[str] = []
        for model_type, info in defaults.items():
            if info is None:
                loaded[model_type] = None
                continue
            try:
                loaded[model_type] = self._load(info)
            except Exception as exc:
                logger.exception("could not load %s version %s", model_type, info.version)
                errors.append(
                    f"{model_type} version {info.version} could not be loaded "
                    f"({type(exc).__name__})"
                )
                # Keep the version we already serve for this type, if any.
                loaded[model_type] = getattr(old, model_type)
                wanted[model_type] = old.versions[model_type]
        self.last_error = "; ".join(errors) or None
        new = ServedModels(
            classifier=loaded["classifier"],
            extractor=loaded["extractor"],
            classifier_version=wanted["classifier"],
            extractor_version=wanted["extractor"],
            not_needed={t: why for t, why in not_needed.items() if wanted[t] is None},
            only_type=only_type,
        )
        if new.versions != old.versions or new.not_needed != old.not_needed:
            self._snapshot = new  # the atomic swap: one reference assignment
            self.swaps += 1
            logger.info("serving %s (was %s)", new.versions, old.versions)
        self._evict(new)

    def _evict(self, keep: ServedModels) -> None:
        pinned = {(t, v) for t, v in keep.versions.items() if v is not None}
        while len(self._cache) > self.max_cached:
            for key in self._cache:
                if key not in pinned:
                    del self._cache[key]
                    break
            else:
                return


def _not_needed(defaults: Mapping[str, ModelInfo | None]) -> tuple[dict[str, str], str | None]:
    """Which model types without a default the data does not need (with why), judged on the
    training data a deployed default recorded; and the one document type if there is one."""
    recorded: list[DataSummary] = []
    for info in defaults.values():
        metrics = info.baseline_metrics if info is not None else {}
        summary = DataSummary.from_dict((metrics or {}).get(TRAINING_DATA_KEY))
        if summary is not None:
            recorded.append(summary)
    if not recorded:
        return {}, None
    data = recorded[0]
    reasons: dict[str, str] = {}
    for model_type, info in defaults.items():
        reason = model_needed(model_type, data) if info is None else None
        if reason:
            reasons[model_type] = reason
    return reasons, data.only_type
