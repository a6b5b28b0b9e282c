"""A trained tiny model carries its straight-through rules, fitted on its own held-out data."""

from __future__ import annotations

from pathlib import Path

from selfimprove_assets.lib.automation.calibration import Scored
from selfimprove_assets.lib.automation.fit import fit_spec, golden_automation
from selfimprove_assets.lib.automation.routing import Rules, route
from selfimprove_assets.lib.defaults import AutomationSettings
from selfimprove_assets.lib.models.artifacts import ModelBundle
from selfimprove_assets.lib.models.predictor import ModelPredictor
from selfimprove_assets.lib.models.training import TrainResult, example_document
from selfimprove_assets.lib.types import TrainingExample


def test_training_fits_and_stores_the_rules(
    trained: dict[str, TrainResult], corpus: list[TrainingExample], tmp_path: Path
) -> None:
    for model_type, result in trained.items():
        spec = result.bundle.spec
        report = spec.automation_report
        assert report["target_accuracy"] == 0.98 and report["min_error_free"] == 149
        assert report["n_held_out"] > 0 and "ece" in report and report["reliability_raw"]
        assert "val_ece" in result.metrics
        # a few held-out documents are far too little evidence: nothing is accepted
        assert spec.cutoffs == {}
        if model_type == "extractor":
            assert spec.calibration is not None and "*" in spec.calibration["maps"]
            assert set(spec.required_labels) == {e.doc_type for e in corpus}
        result.bundle.save(tmp_path / model_type)
        loaded = ModelBundle.load(tmp_path / model_type)
        assert loaded.spec.automation_report == report
        assert loaded.spec.calibration == spec.calibration
        predictor = ModelPredictor(loaded)
        assert golden_automation(predictor, corpus[:4]) is None  # no cut-offs


def test_served_confidence_is_the_calibrated_one(
    trained: dict[str, TrainResult], corpus: list[TrainingExample]
) -> None:
    bundle = trained["extractor"].bundle
    spec = bundle.spec
    raw = [Scored("x", c / 100, c >= 50) for c in range(100)] * 2
    # a calibrator that maps everything under 0.5 to 0 and the rest to 1, and a cut-off of 0.5
    fit_spec(spec, raw, corpus, AutomationSettings(target_accuracy=0.5, min_label_examples=1000))
    try:
        assert spec.cutoffs  # 100 of 200 right above 0.5: the bound clears 0.5
        predictor = ModelPredictor(bundle)
        for ents in predictor.extract([example_document(e) for e in corpus[:4]]):
            assert all(e.confidence in (0.0, 1.0) for e in ents)
            routing = route(
                [e.to_dict() for e in ents],
                doc_type=None,
                doc_type_confidence=None,
                classifier=None,
                extractor=Rules.of(spec),
            )
            assert len(routing.auto_accepted) == len(ents)
    finally:
        spec.calibration, spec.cutoffs = None, {}
