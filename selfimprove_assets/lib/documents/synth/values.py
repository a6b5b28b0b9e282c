"""Entity values for the synthetic corpus, drawn from a seeded Faker and a seeded Random.

One ``ValueFactory`` per corpus, drawn from in a fixed order, makes the same seed give the
same values. Scenario knobs (date format, member-ID scheme) change how values are written.
"""

from __future__ import annotations

import random
import string
from datetime import date, timedelta

from faker import Faker

INSURERS = (
    "Aetna",
    "Blue Cross Blue Shield",
    "UnitedHealthcare",
    "Cigna",
    "Humana",
    "Kaiser Permanente",
    "Molina Healthcare",
    "Centene",
    "Oscar Health",
    "Highmark",
)
ICD10 = ("E11.9", "I10", "J45.909", "M54.5", "K21.9", "E78.5", "F41.1", "N39.0", "R51.9", "J06.9")
ICD10_TEXT = {
    "E11.9": "type 2 diabetes mellitus",
    "I10": "essential hypertension",
    "J45.909": "asthma",
    "M54.5": "low back pain",
    "K21.9": "gastro-esophageal reflux",
    "E78.5": "hyperlipidemia",
    "F41.1": "generalized anxiety disorder",
    "N39.0": "urinary tract infection",
    "R51.9": "headache",
    "J06.9": "upper respiratory infection",
}
CPT = ("99213", "99214", "99203", "80053", "85025", "93000", "71046", "36415", "83036", "90686")
MEDICATIONS = (
    "Metformin 500 mg",
    "Lisinopril 10 mg",
    "Atorvastatin 20 mg",
    "Amoxicillin 875 mg",
    "Omeprazole 40 mg",
    "Sertraline 50 mg",
    "Albuterol 90 mcg",
    "Levothyroxine 75 mcg",
    "Amlodipine 5 mg",
    "Gabapentin 300 mg",
)
FACILITY_SUFFIXES = ("Medical Center", "Clinic", "Health", "Family Practice", "Hospital")


class ValueFactory:
    """Draws every entity value; the scenario decides formats, the seed decides values."""

    def __init__(self, seed: int, *, date_format: str, member_id_scheme: str) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed)
        self.date_format = date_format
        self.member_id_scheme = member_id_scheme

    def person(self) -> str:
        return f"{self.fake.first_name()} {self.fake.last_name()}"

    def facility_name(self) -> str:
        return f"{self.fake.last_name()} {self.rng.choice(FACILITY_SUFFIXES)}"

    def format_date(self, value: date) -> str:
        if self.date_format == "day_first":
            return value.strftime("%d/%m/%Y")
        return value.strftime("%m/%d/%Y")

    def birth_date(self) -> str:
        return self.format_date(date(1940, 1, 1) + timedelta(days=self.rng.randrange(0, 365 * 65)))

    def service_date(self) -> date:
        return date(2023, 1, 1) + timedelta(days=self.rng.randrange(0, 700))

    def mrn(self) -> str:
        return "".join(self.rng.choices(string.digits, k=self.rng.choice((7, 8))))

    def npi(self) -> str:
        return self.rng.choice("12") + "".join(self.rng.choices(string.digits, k=9))

    def insurer(self) -> str:
        return self.rng.choice(INSURERS)

    def member_id(self) -> str:
        if self.member_id_scheme == "segmented":
            digits = "".join(self.rng.choices(string.digits, k=8))
            return f"M{self.rng.choice(string.ascii_uppercase)}-{digits[:4]}-{digits[4:]}"
        letters = "".join(self.rng.choices(string.ascii_uppercase, k=3))
        return letters + "".join(self.rng.choices(string.digits, k=9))

    def icd10(self) -> str:
        return self.rng.choice(ICD10)

    def cpt(self) -> str:
        return self.rng.choice(CPT)

    def medication(self) -> str:
        return self.rng.choice(MEDICATIONS)

    def amount(self, low: float = 40.0, high: float = 4000.0) -> float:
        return round(self.rng.uniform(low, high), 2)

    def invoice_number(self) -> str:
        return f"INV-{self.rng.randrange(2023, 2026)}-{self.rng.randrange(0, 100000):05d}"


def money(value: float) -> str:
    return f"${value:,.2f}"
