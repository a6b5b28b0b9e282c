"""What each synthetic document type says: titles, field captions, prose and tables.

Types differ in their titles and vocabulary (a model can tell them apart from the text) but
several titles and captions per type, and several layouts, keep them from being identical
strings. The ``alternate`` vocabulary is the ``new_vocabulary`` drift scenario.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DocTypeSpec:
    name: str
    titles: tuple[str, ...]
    alt_titles: tuple[str, ...]
    labels: tuple[str, ...]
    prose: tuple[str, ...]  # sentences with {label} placeholders for entity values
    notes: tuple[str, ...]  # unlabeled type vocabulary
    table: str  # which content table the type carries (see layouts.content_table)


CAPTIONS: dict[str, tuple[str, ...]] = {
    "patient_name": ("Patient Name", "Patient", "Name"),
    "date_of_birth": ("Date of Birth", "DOB", "Birth Date"),
    "mrn": ("MRN", "Medical Record No.", "Chart Number"),
    "provider_name": ("Provider", "Physician", "Attending Physician"),
    "npi": ("NPI", "Provider NPI", "NPI Number"),
    "date_of_service": ("Date of Service", "Service Date", "Visit Date"),
    "insurer": ("Insurance", "Insurance Carrier", "Payer"),
    "member_id": ("Member ID", "Subscriber ID", "Policy Number"),
    "icd10_code": ("Diagnosis Code", "ICD-10", "Dx Code"),
    "cpt_code": ("Procedure Code", "CPT", "CPT Code"),
    "medication": ("Medication", "Drug", "Rx"),
    "total_amount": ("Total", "Amount Due", "Total Charges"),
    "invoice_number": ("Invoice No.", "Invoice Number", "Bill Number"),
    "facility_name": ("Facility", "Clinic", "Location"),
}

ALT_CAPTIONS: dict[str, tuple[str, ...]] = {
    "patient_name": ("Client", "Person Served", "Individual"),
    "date_of_birth": ("Born", "Birthdate", "D.O.B."),
    "mrn": ("Record ID", "Health Record", "File No."),
    "provider_name": ("Clinician", "Practitioner", "Treating Doctor"),
    "npi": ("National Provider ID", "Prov. Identifier", "Provider No."),
    "date_of_service": ("Encounter Date", "Seen On", "Appointment"),
    "insurer": ("Health Plan", "Coverage", "Plan Sponsor"),
    "member_id": ("Enrollee No.", "Plan ID", "Beneficiary ID"),
    "icd10_code": ("Condition Code", "Dx", "Diagnosis"),
    "cpt_code": ("Service Code", "Procedure", "HCPCS/CPT"),
    "medication": ("Prescribed Drug", "Therapy", "Medicine"),
    "total_amount": ("Balance", "Please Pay", "Grand Total"),
    "invoice_number": ("Statement No.", "Reference", "Account Ref"),
    "facility_name": ("Site", "Practice", "Care Location"),
}

DOC_TYPES: dict[str, DocTypeSpec] = {
    s.name: s
    for s in (
        DocTypeSpec(
            "referral_letter",
            ("Referral Letter", "Patient Referral", "Specialist Referral"),
            ("Request for Consultation", "Consult Request", "Onward Referral"),
            (
                "patient_name",
                "date_of_birth",
                "mrn",
                "provider_name",
                "npi",
                "date_of_service",
                "icd10_code",
                "facility_name",
            ),
            (
                "Dear colleague, I am referring {patient_name}, born {date_of_birth}, for further "
                "evaluation.",
                "The patient was seen in our office on {date_of_service} with a working diagnosis "
                "of {icd10_code}.",
                "Thank you for seeing this patient. Please send your consultation notes to "
                "{facility_name}.",
            ),
            (
                "Reason for referral: persistent symptoms despite first-line treatment.",
                "Please contact our office to schedule the appointment.",
                "Relevant history and recent results are enclosed.",
            ),
            "none",
        ),
        DocTypeSpec(
            "lab_report",
            ("Laboratory Report", "Lab Results", "Clinical Laboratory Report"),
            ("Test Results Summary", "Pathology Findings", "Specimen Analysis"),
            (
                "patient_name",
                "date_of_birth",
                "mrn",
                "provider_name",
                "date_of_service",
                "facility_name",
            ),
            (
                "Specimen for {patient_name} was collected on {date_of_service} and analyzed at "
                "{facility_name}.",
                "Results were reviewed and released by the ordering provider.",
            ),
            (
                "Specimen type: whole blood and serum.",
                "Values outside the reference range are flagged H (high) or L (low).",
                "Results verified by the laboratory director.",
            ),
            "lab",
        ),
        DocTypeSpec(
            "prescription",
            ("Prescription", "Rx Prescription", "Medication Order"),
            ("Pharmacy Order", "Drug Authorization", "Dispensing Slip"),
            (
                "patient_name",
                "date_of_birth",
                "provider_name",
                "npi",
                "medication",
                "date_of_service",
            ),
            (
                "Please dispense {medication} to {patient_name} as directed.",
                "Prescribed on {date_of_service}.",
            ),
            (
                "Sig: take one tablet by mouth twice daily with food.",
                "Dispense: 60 tablets. Refills: 2. Substitution permitted.",
                "Prescriber signature required for controlled substances.",
            ),
            "meds",
        ),
        DocTypeSpec(
            "insurance_claim",
            ("Health Insurance Claim Form", "Insurance Claim", "Medical Claim"),
            ("Request for Reimbursement", "Benefit Claim", "Coverage Submission"),
            (
                "patient_name",
                "date_of_birth",
                "insurer",
                "member_id",
                "icd10_code",
                "cpt_code",
                "npi",
                "total_amount",
                "date_of_service",
            ),
            (
                "This claim is submitted to {insurer} for services on {date_of_service}.",
                "The insured {patient_name} holds policy {member_id}.",
            ),
            (
                "Subscriber signature on file. Assignment of benefits accepted.",
                "Group number and plan type as shown on the insurance card.",
                "Claim submitted electronically; retain for your records.",
            ),
            "claim",
        ),
        DocTypeSpec(
            "discharge_summary",
            ("Discharge Summary", "Hospital Discharge Summary", "Discharge Report"),
            ("Inpatient Release Note", "Summary of Hospital Stay", "Transition of Care Note"),
            (
                "patient_name",
                "date_of_birth",
                "mrn",
                "provider_name",
                "date_of_service",
                "icd10_code",
                "facility_name",
            ),
            (
                "{patient_name} was admitted to {facility_name} on {date_of_service}.",
                "Principal diagnosis at discharge: {icd10_code}.",
            ),
            (
                "Hospital course: the patient responded well to treatment and remained stable.",
                "Discharge condition: stable. Follow-up with primary care in one week.",
                "Discharge medications were reconciled and reviewed with the patient.",
            ),
            "meds",
        ),
        DocTypeSpec(
            "invoice",
            ("Invoice", "Patient Invoice", "Bill for Services"),
            ("Payment Request", "Amount Owed Notice", "Charges Notice"),
            (
                "patient_name",
                "invoice_number",
                "date_of_service",
                "total_amount",
                "insurer",
                "member_id",
                "facility_name",
            ),
            (
                "Reference {invoice_number} covers services provided on {date_of_service}.",
                "Please remit {total_amount} to {facility_name} within 30 days.",
            ),
            (
                "Payment terms: net 30 days. Late payments may incur a fee.",
                "We accept checks, credit cards and online payment.",
                "Questions about this bill? Call our billing office.",
            ),
            "items",
        ),
        DocTypeSpec(
            "itemized_statement",
            ("Itemized Statement", "Itemized Bill", "Detailed Statement of Charges"),
            ("Line-Item Statement", "Charge Detail Report", "Itemized Account"),
            (
                "patient_name",
                "invoice_number",
                "date_of_service",
                "total_amount",
                "insurer",
                "member_id",
                "facility_name",
                "cpt_code",
            ),
            (
                "This itemized statement lists every charge for account {invoice_number}.",
                "Charges are itemized by procedure code, with {cpt_code} as the primary service.",
            ),
            (
                "Each line shows the service date, procedure code, units and charge.",
                "Insurance adjustments are shown separately from patient responsibility.",
                "Request a copy of the itemized statement at any time.",
            ),
            "items",
        ),
    )
}

BASE_TYPES = (
    "referral_letter",
    "lab_report",
    "prescription",
    "insurance_claim",
    "discharge_summary",
    "invoice",
)
"""The types of the baseline corpus; ``itemized_statement`` appears only in ``type_split``."""


def captions(label: str, vocabulary: str) -> tuple[str, ...]:
    table = ALT_CAPTIONS if vocabulary == "alternate" else CAPTIONS
    return table[label]


def titles(spec: DocTypeSpec, vocabulary: str) -> tuple[str, ...]:
    return spec.alt_titles if vocabulary == "alternate" else spec.titles
