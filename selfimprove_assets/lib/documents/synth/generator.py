"""The synthetic healthcare intake corpus: PDFs and scans with exact labels, under drift.

``iter_documents`` yields documents in memory (tests, benchmarks); ``generate_corpus`` writes
them in the labeled-corpus contract. One seed gives the same labels byte for byte: every random
choice comes from one ``random.Random(seed)`` and one Faker seeded with ``seed_instance``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfimprove_assets.lib.documents.labels import LabeledDocument, label_record, write_labels
from selfimprove_assets.lib.documents.synth.drawing import FAMILIES
from selfimprove_assets.lib.documents.synth.layouts import BASE_LAYOUTS, ContentTable, Style, draw
from selfimprove_assets.lib.documents.synth.scan import make_scan
from selfimprove_assets.lib.documents.synth.scenarios import Scenario, get_scenario
from selfimprove_assets.lib.documents.synth.values import ValueFactory, money
from selfimprove_assets.lib.documents.synth.vocab import BASE_TYPES, DOC_TYPES, DocTypeSpec
from selfimprove_assets.lib.types import Entity, Word

logger = logging.getLogger(__name__)

LAB_TESTS = (
    ("Hemoglobin A1c", "%", (4.0, 9.5), "4.0-5.6"),
    ("Glucose, fasting", "mg/dL", (65, 180), "70-99"),
    ("Total cholesterol", "mg/dL", (120, 280), "<200"),
    ("LDL cholesterol", "mg/dL", (50, 190), "<100"),
    ("Creatinine", "mg/dL", (0.5, 1.8), "0.6-1.3"),
    ("Hemoglobin", "g/dL", (10.0, 17.5), "12.0-17.5"),
    ("White blood cells", "K/uL", (3.0, 13.0), "4.5-11.0"),
    ("Platelets", "K/uL", (120, 450), "150-400"),
    ("TSH", "mIU/L", (0.2, 6.5), "0.4-4.0"),
    ("Potassium", "mmol/L", (3.2, 5.6), "3.5-5.1"),
)
SERVICES = (
    "Office visit",
    "Laboratory panel",
    "X-ray, chest",
    "Injection",
    "ECG",
    "Venipuncture",
    "Supplies",
    "Consultation",
)
EXTRA_CODES = ("G0008", "J3420", "A4550", "J1100", "Q9967")
VITALS = (
    ("Blood pressure", "mmHg"),
    ("Heart rate", "bpm"),
    ("Temperature", "F"),
    ("SpO2", "%"),
    ("Weight", "lb"),
)


@dataclass
class SynthDocument:
    """One generated document: its bytes, labels, and the exact words that were drawn."""

    document_id: str
    file_name: str
    doc_type: str
    layout: str
    entities: list[Entity]
    words: list[Word]
    page_count: int
    is_scan: bool
    data: bytes

    def label_record(self) -> dict[str, Any]:
        doc = LabeledDocument(self.document_id, Path(self.file_name), self.doc_type, self.entities)
        return label_record(doc, Path("."))


@dataclass
class CorpusSummary:
    root: Path
    labels_path: Path
    scenario: str
    scenario_kind: str
    description: str
    n: int
    seed: int
    scans: int
    pages: int
    seconds: float
    doc_types: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


def _values(spec: DocTypeSpec, factory: ValueFactory) -> dict[str, str]:
    service = factory.service_date()
    makers = {
        "patient_name": factory.person,
        "provider_name": factory.person,
        "date_of_birth": factory.birth_date,
        "date_of_service": lambda: factory.format_date(service),
        "mrn": factory.mrn,
        "npi": factory.npi,
        "insurer": factory.insurer,
        "member_id": factory.member_id,
        "icd10_code": factory.icd10,
        "cpt_code": factory.cpt,
        "medication": factory.medication,
        "invoice_number": factory.invoice_number,
        "facility_name": factory.facility_name,
        "total_amount": lambda: "",  # filled from the table so the arithmetic holds
    }
    return {label: makers[label]() for label in spec.labels}


def _table(spec: DocTypeSpec, values: dict[str, str], factory: ValueFactory) -> ContentTable:
    rng = factory.rng
    if spec.table == "lab":
        rows = 30 if rng.random() < 0.15 else rng.randint(4, 8)  # some reports run to page 2
        table = ContentTable(["Test", "Result", "Units", "Reference Range"])
        for i in range(rows):
            name, unit, (low, high), ref = LAB_TESTS[(i + rng.randrange(len(LAB_TESTS))) % 10]
            result = f"{rng.uniform(low, high):.1f}"
            table.rows.append([(name, None), (result, None), (unit, None), (ref, None)])
        return table
    if spec.table == "meds":
        if "medication" in values:
            table = ContentTable(["Medication", "Dose", "Frequency", "Quantity"])
            table.rows.append(
                [
                    (values["medication"], "medication"),
                    ("1 tablet", None),
                    (rng.choice(("once daily", "twice daily", "at bedtime")), None),
                    (str(rng.choice((30, 60, 90))), None),
                ]
            )
            return table
        table = ContentTable(["Vital Sign", "Admission", "Discharge"])
        for name, unit in rng.sample(VITALS, k=3):
            table.rows.append(
                [
                    (name, None),
                    (f"{rng.randint(60, 140)} {unit}", None),
                    (f"{rng.randint(60, 140)} {unit}", None),
                ]
            )
        return table
    if spec.table == "claim":
        total = factory.amount()
        values["total_amount"] = money(total)
        table = ContentTable(["Date", "CPT", "Diagnosis", "Units", "Charges"])
        table.rows.append(
            [
                (values["date_of_service"], "date_of_service"),
                (values["cpt_code"], "cpt_code"),
                (values["icd10_code"], "icd10_code"),
                ("1", None),
                (values["total_amount"], "total_amount"),
            ]
        )
        return table
    if spec.table == "items":
        itemized = "cpt_code" in values
        headers = (
            ["Code", "Description", "Units", "Charge"]
            if itemized
            else ["Description", "Qty", "Unit Price", "Amount"]
        )
        table = ContentTable(headers)
        total = 0.0
        for i in range(rng.randint(2, 5)):
            qty, price = rng.randint(1, 3), factory.amount(15.0, 600.0)
            total += qty * price
            service = rng.choice(SERVICES)
            if itemized:
                code: tuple[str, str | None] = (
                    (values["cpt_code"], "cpt_code") if i == 0 else (rng.choice(EXTRA_CODES), None)
                )
                table.rows.append(
                    [code, (service, None), (str(qty), None), (money(qty * price), None)]
                )
            else:
                table.rows.append(
                    [
                        (service, None),
                        (str(qty), None),
                        (money(price), None),
                        (money(qty * price), None),
                    ]
                )
        values["total_amount"] = money(total)
        table.rows.append(
            [("", None), ("", None), ("Total", None), (values["total_amount"], "total_amount")]
        )
        return table
    return ContentTable([])


def _pick_types(n: int, rng: random.Random, scenario: Scenario) -> list[str]:
    types = [BASE_TYPES[i % len(BASE_TYPES)] for i in range(n)]
    rng.shuffle(types)
    seen: Counter[str] = Counter()
    for i, doc_type in enumerate(types):
        if doc_type in scenario.split_types:  # every other one becomes the new type
            seen[doc_type] += 1
            if seen[doc_type] % 2 == 0:
                types[i] = scenario.split_types[doc_type]
    return types


def iter_documents(
    n: int, seed: int, scenario: str = "baseline", scan_share: float = 0.2
) -> Iterator[SynthDocument]:
    """Yield ``n`` documents of the given drift scenario, deterministically from ``seed``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= scan_share <= 1.0:
        raise ValueError(f"scan_share must be in [0, 1], got {scan_share}")
    spec_scenario = get_scenario(scenario)
    factory = ValueFactory(
        seed, date_format=spec_scenario.date_format, member_id_scheme=spec_scenario.member_id_scheme
    )
    rng = factory.rng
    share = max(scan_share, spec_scenario.min_scan_share)
    for i, doc_type in enumerate(_pick_types(n, rng, spec_scenario)):
        spec = DOC_TYPES[doc_type]
        layout = spec_scenario.layout_override.get(doc_type) or rng.choice(BASE_LAYOUTS)
        regular, bold = FAMILIES[rng.choice(sorted(FAMILIES))]
        style = Style(
            regular,
            bold,
            rng.choice((9, 10, 11, 12)),
            rng.choice((14, 16, 18, 20)),
            spec_scenario.vocabulary,
            rng,
        )
        values = _values(spec, factory)
        table = _table(spec, values, factory)
        drawer = draw(layout, spec, values, table, style)
        data = drawer.finish()
        words, entities, suffix = drawer.words, drawer.entities, ".pdf"
        is_scan = rng.random() < share
        if is_scan:
            image_format = rng.choice(("png", "png", "jpeg", "pdf"))
            data, suffix, words, entities = make_scan(
                data,
                words,
                entities,
                rng=rng,
                noise_level=spec_scenario.noise_level,
                image_format=image_format,
            )
        doc_id = f"doc-{seed}-{i:05d}"
        yield SynthDocument(
            doc_id,
            f"files/{doc_id}{suffix}",
            doc_type,
            layout,
            entities,
            words,
            drawer.page + 1,
            is_scan,
            data,
        )


def generate_corpus(
    out: Path, *, n: int, seed: int, scenario: str = "baseline", scan_share: float = 0.2
) -> CorpusSummary:
    """Write ``n`` documents and ``labels.jsonl`` under ``out`` (the labeled-corpus contract).

    A ``scenario.json`` beside the labels records what drift the corpus carries.
    """
    started = time.perf_counter()
    chosen = get_scenario(scenario)
    out = Path(out)
    (out / "files").mkdir(parents=True, exist_ok=True)
    docs: list[LabeledDocument] = []
    types: Counter[str] = Counter()
    labels: Counter[str] = Counter()
    scans = pages = 0
    for doc in iter_documents(n, seed, scenario, scan_share):
        (out / doc.file_name).write_bytes(doc.data)
        docs.append(
            LabeledDocument(doc.document_id, out / doc.file_name, doc.doc_type, doc.entities)
        )
        types[doc.doc_type] += 1
        labels.update(e.label for e in doc.entities)
        scans += doc.is_scan
        pages += doc.page_count
    labels_path = write_labels(out, docs)
    (out / "scenario.json").write_text(
        json.dumps(
            {
                "scenario": chosen.name,
                "kind": chosen.kind,
                "description": chosen.description,
                "n": n,
                "seed": seed,
                "scan_share": scan_share,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    seconds = time.perf_counter() - started
    logger.info("generated %d documents (%d scans) in %.1f s", n, scans, seconds)
    return CorpusSummary(
        out,
        labels_path,
        chosen.name,
        chosen.kind,
        chosen.description,
        n,
        seed,
        scans,
        pages,
        seconds,
        dict(sorted(types.items())),
        dict(sorted(labels.items())),
    )
