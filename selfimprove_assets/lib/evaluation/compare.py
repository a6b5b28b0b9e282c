"""Default vs candidate on the same documents: paired figures, intervals and tests.

Both models are scored on the *same* documents, so every comparison here is paired: the
bootstrap resamples documents (keeping each document's default and candidate outcome
together), and the classifier test is McNemar's, which only looks at documents where the two
models disagree. Pairing removes the document-difficulty variance that an unpaired comparison
would have to overcome, which matters on a small golden set.

* Accuracy / micro-F1 intervals: percentile bootstrap over documents. For micro-F1 each
  document contributes its tp / fp / fn, and F1 is recomputed from the resampled sums (F1 is
  not an average of per-document scores).
* Classifier significance: McNemar's test on the discordant pairs, exact binomial
  (``scipy.stats.binomtest``) and mid-p; the mid-p is used for decisions because the exact
  test is conservative at small counts (Fagerland, Lydersen & Laake 2013).
* Extractor significance: paired bootstrap test of ``F1(candidate) <= F1(default)``, with the
  null-centred p-value of Berg-Kirkpatrick et al. (2012): the share of replicates whose
  difference is at least twice the observed one.
* Regressions: each figure also carries ``p_worse``, the same test one-sided the other way
  (McNemar on the swapped discordant counts; the share of replicates at most twice the observed
  difference), so a drop is judged by its evidence and not by its point estimate.
* Groups: a named set of labels (extractor: micro-F1 over their pooled tp / fp / fn) or of
  gold types (classifier: accuracy on those documents; ``doc_type`` means every document),
  tested as one figure on the same resamples. The promotion policy tests the fields that
  triggered a retrain this way: one test of their combined figure has the power that a test
  per field lacks when a field was nearly perfect already.

Inputs are plain per-document records, so this module never needs a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from selfimprove_assets.lib.evaluation.paired_stats import (
    bootstrap_weights,
    interval,
    mcnemar,
    micro_f1,
    safe_ratio,
)

DEFAULT_BOOTSTRAP = 2000


@dataclass(frozen=True)
class ClassificationRecord:
    document_id: str
    gold: str
    default: str | None
    candidate: str | None


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0


CountsLike = Counts | Mapping[str, int] | Sequence[int]


@dataclass(frozen=True)
class ExtractionRecord:
    """Per-label tp/fp/fn of each model on one document (counts, dicts or 3-tuples)."""

    document_id: str
    default: Mapping[str, CountsLike]
    candidate: Mapping[str, CountsLike]
    doc_type: str | None = None


def _counts(value: CountsLike, where: str) -> Counts:
    if isinstance(value, Counts):
        c = value
    elif isinstance(value, Mapping):
        c = Counts(int(value.get("tp", 0)), int(value.get("fp", 0)), int(value.get("fn", 0)))
    else:
        tp, fp, fn = value
        c = Counts(int(tp), int(fp), int(fn))
    if min(c.tp, c.fp, c.fn) < 0:
        raise ValueError(f"negative count in {where}: {c}")
    return c


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


@dataclass
class FieldComparison:
    """One figure for both models; ``p_value`` is one-sided for "candidate is better",
    ``p_worse`` the same paired test one-sided for "candidate is worse" (a regression)."""

    name: str
    metric: str
    n: int
    default: float | None
    candidate: float | None
    delta: float | None
    default_ci: tuple[float | None, float | None]
    candidate_ci: tuple[float | None, float | None]
    delta_ci: tuple[float | None, float | None]
    p_value: float | None
    test: str
    extra: dict[str, Any] = field(default_factory=dict)
    p_worse: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (the intervals as lists)."""
        data = asdict(self)
        for key in ("default_ci", "candidate_ci", "delta_ci"):
            data[key] = list(data[key])
        return data


@dataclass
class ComparisonReport:
    """Overall figure plus a breakdown (per gold type for classifiers, per label for
    extractors; ``by_type`` adds per-type micro-F1 for extractors when types are given;
    ``groups`` holds the pooled figures of the groups asked for)."""

    model_type: str
    dataset: str
    metric: str
    n_documents: int
    confidence: float
    n_boot: int
    seed: int
    overall: FieldComparison
    fields: dict[str, FieldComparison]
    by_type: dict[str, FieldComparison] = field(default_factory=dict)
    groups: dict[str, FieldComparison] = field(default_factory=dict)
    overall_field: str = "overall"  # also names the overall figure (a classifier's doc_type)
    breakdown: str = "label"  # what one of ``fields`` is (a classifier's gold type)

    def get(self, name: str) -> FieldComparison | None:
        """``"overall"`` (or ``"doc_type"`` for a classifier) is the overall figure; then
        fields, then groups."""
        if name in ("overall", self.overall_field):
            return self.overall
        return self.fields.get(name) or self.groups.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_type": self.model_type,
            "dataset": self.dataset,
            "metric": self.metric,
            "n_documents": self.n_documents,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "overall": self.overall.to_dict(),
            "fields": {k: v.to_dict() for k, v in self.fields.items()},
            "by_type": {k: v.to_dict() for k, v in self.by_type.items()},
            "groups": {k: v.to_dict() for k, v in self.groups.items()},
        }

    def to_markdown(self) -> str:
        level = f"{self.confidence:.0%}"
        head = (
            f"| {{}} | n | default | candidate | Δ | {level} CI of Δ | p (candidate better) |\n"
            "|---|---:|---:|---:|---:|---|---:|\n"
        )

        def fmt(x: float | None, signed: bool = False) -> str:
            return "–" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")

        def row(c: FieldComparison) -> str:
            lo, hi = c.delta_ci
            p = "–" if c.p_value is None else f"{c.p_value:.3g}"
            return (
                f"| {c.name} | {c.n} | {fmt(c.default)} | {fmt(c.candidate)} | "
                f"{fmt(c.delta, True)} | [{fmt(lo, True)}, {fmt(hi, True)}] | {p} |\n"
            )

        out = [
            f"**{self.model_type} — {self.dataset}** ({self.n_documents} documents, "
            f"{self.metric}; {self.overall.test})\n\n",
            head.format("figure"),
            row(self.overall),
        ]
        if self.fields:
            out += ["\n", head.format(self.breakdown), *(row(c) for c in self.fields.values())]
        if self.by_type:
            out += ["\n", head.format("type"), *(row(c) for c in self.by_type.values())]
        if self.groups:
            out += ["\n", head.format("group"), *(row(c) for c in self.groups.values())]
        return "".join(out)


def _classification_field(
    name: str, mask: np.ndarray, cd: np.ndarray, cc: np.ndarray,
    blocks: list[np.ndarray], confidence: float,
) -> FieldComparison:  # fmt: skip
    n = int(mask.sum())
    dm, cm = cd & mask, cc & mask
    acc_d, acc_c = dm.sum() / n, cm.sum() / n
    den = np.concatenate([w @ mask.astype(float) for w in blocks])
    bd = safe_ratio(np.concatenate([w @ dm.astype(float) for w in blocks]), den)
    bc = safe_ratio(np.concatenate([w @ cm.astype(float) for w in blocks]), den)
    b, c = int((dm & ~cc).sum()), int((cm & ~cd).sum())
    test = mcnemar(b, c)
    return FieldComparison(
        name, "accuracy", n, float(acc_d), float(acc_c), float(acc_c - acc_d),
        interval(bd, confidence), interval(bc, confidence), interval(bc - bd, confidence),
        test["p_mid"], "McNemar mid-p (one-sided)",
        {"only_default_correct": b, "only_candidate_correct": c, **test},
        p_worse=mcnemar(c, b)["p_mid"],
    )  # fmt: skip


def _check_common(n: int, ids: list[str], confidence: float, n_boot: int) -> None:
    if n == 0:
        raise ValueError("no documents to compare: the record list is empty")
    if len(set(ids)) != n:
        raise ValueError("document_id must be unique across records (the comparison is paired)")
    if not 0 < confidence < 1 or n_boot < 100:
        raise ValueError("confidence must be in (0, 1) and n_boot >= 100")


def _group_members(
    groups: Mapping[str, Sequence[str]] | None, known: Sequence[str]
) -> dict[str, list[str]]:
    """Each group's members that the records measure; groups measuring none are left out."""
    out: dict[str, list[str]] = {}
    for name, members in (groups or {}).items():
        if isinstance(members, str):
            raise ValueError(f"group {name!r} must be a list of names, not the string {members!r}")
        present = [m for m in dict.fromkeys(members) if m in known]
        if present:
            out[name] = present
    return out


def compare_classification(
    records: Sequence[ClassificationRecord],
    dataset: str = "golden",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> ComparisonReport:
    """Accuracy of both classifiers, overall and per gold type, with McNemar and bootstrap.

    ``groups``: name -> gold types whose documents are compared together (``doc_type``
    stands for every document)."""
    _check_common(len(records), [r.document_id for r in records], confidence, n_boot)
    gold = np.array([r.gold for r in records], dtype=object)
    cd = np.array([r.default == r.gold for r in records])
    cc = np.array([r.candidate == r.gold for r in records])
    blocks = bootstrap_weights(len(records), n_boot, np.random.default_rng(seed))
    everything = np.ones(len(records), dtype=bool)
    overall = _classification_field("doc_type", everything, cd, cc, blocks, confidence)
    fields = {
        str(t): _classification_field(str(t), gold == t, cd, cc, blocks, confidence)
        for t in sorted(set(gold.tolist()))
    }
    pooled = {}
    for name, members in _group_members(groups, ["doc_type", *fields]).items():
        mask = everything if "doc_type" in members else np.isin(gold, members)
        pooled[name] = _classification_field(name, mask, cd, cc, blocks, confidence)
        pooled[name].extra["members"] = members
    return ComparisonReport(
        "classifier", dataset, "accuracy", len(records), confidence, n_boot, seed, overall, fields,
        groups=pooled, overall_field="doc_type", breakdown="type",
    )  # fmt: skip


def _extraction_field(
    name: str, sums: dict[str, np.ndarray], boots: dict[str, np.ndarray], confidence: float,
) -> FieldComparison:  # fmt: skip
    """``sums``/``boots``: tp_d, fp_d, fn_d, tp_c, fp_c, fn_c (scalars / replicate vectors)."""
    f_d = float(micro_f1(sums["tp_d"], sums["fp_d"], sums["fn_d"]))
    f_c = float(micro_f1(sums["tp_c"], sums["fp_c"], sums["fn_c"]))
    bd = micro_f1(boots["tp_d"], boots["fp_d"], boots["fn_d"])
    bc = micro_f1(boots["tp_c"], boots["fp_c"], boots["fn_c"])
    delta = f_c - f_d if not (math.isnan(f_d) or math.isnan(f_c)) else float("nan")
    diffs = (bc - bd)[np.isfinite(bc - bd)]
    p = p_worse = None
    if not math.isnan(delta) and diffs.size:
        p = float((1 + np.sum(diffs >= 2 * delta - 1e-12)) / (diffs.size + 1))
        p_worse = float((1 + np.sum(diffs <= 2 * delta + 1e-12)) / (diffs.size + 1))
    extra = {
        f"{k}_{m}": _num(float(safe_ratio(sums[f"tp_{m}"], sums[f"tp_{m}"] + sums[f"{e}_{m}"])))
        for m in ("d", "c")
        for k, e in (("precision", "fp"), ("recall", "fn"))
    }
    extra = {k.replace("_d", "_default").replace("_c", "_candidate"): v for k, v in extra.items()}
    return FieldComparison(
        name, "f1", int(sums["tp_d"] + sums["fn_d"]), _num(f_d), _num(f_c), _num(delta),
        interval(bd, confidence), interval(bc, confidence), interval(bc - bd, confidence), p,
        "paired bootstrap (one-sided)", extra, p_worse,
    )  # fmt: skip


def compare_extraction(
    records: Sequence[ExtractionRecord],
    dataset: str = "golden",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> ComparisonReport:
    """Micro-F1 of both extractors (``n`` = gold entities), per label and per document type.

    ``groups``: name -> labels whose tp / fp / fn are pooled into one micro-F1."""
    _check_common(len(records), [r.document_id for r in records], confidence, n_boot)
    labels = sorted({lbl for r in records for lbl in (*r.default, *r.candidate)})
    if not labels:
        raise ValueError("extraction records carry no label counts")
    arrays = {k: np.zeros((len(records), len(labels))) for k in
              ("tp_d", "fp_d", "fn_d", "tp_c", "fp_c", "fn_c")}  # fmt: skip
    for i, r in enumerate(records):
        for j, lbl in enumerate(labels):
            for side, source in (("d", r.default), ("c", r.candidate)):
                if lbl in source:
                    c = _counts(source[lbl], f"{r.document_id}/{lbl}")
                    arrays[f"tp_{side}"][i, j] = c.tp
                    arrays[f"fp_{side}"][i, j] = c.fp
                    arrays[f"fn_{side}"][i, j] = c.fn
    blocks = bootstrap_weights(len(records), n_boot, np.random.default_rng(seed))
    # replicate sums per label, shape (n_boot, labels), for all documents
    boot = {k: np.concatenate([w @ a for w in blocks]) for k, a in arrays.items()}

    def compare(name: str, sums: dict, boots: dict[str, np.ndarray]) -> FieldComparison:
        return _extraction_field(name, sums, boots, confidence)

    overall = compare(
        "micro",
        {k: a.sum() for k, a in arrays.items()},
        {k: b.sum(axis=1) for k, b in boot.items()},
    )
    fields = {
        lbl: compare(lbl, {k: a[:, j].sum() for k, a in arrays.items()},
                     {k: b[:, j] for k, b in boot.items()})
        for j, lbl in enumerate(labels)
    }  # fmt: skip
    by_type: dict[str, FieldComparison] = {}
    types = np.array([r.doc_type for r in records], dtype=object)
    for t in sorted({r.doc_type for r in records if r.doc_type is not None}):
        docs = types == t
        by_type[t] = compare(
            t,
            {k: a[docs].sum() for k, a in arrays.items()},
            {k: np.concatenate([w[:, docs] @ a[docs].sum(axis=1) for w in blocks])
             for k, a in arrays.items()},
        )  # fmt: skip
    pooled: dict[str, FieldComparison] = {}
    for name, members in _group_members(groups, labels).items():
        cols = [labels.index(m) for m in members]
        pooled[name] = compare(
            name,
            {k: a[:, cols].sum() for k, a in arrays.items()},
            {k: b[:, cols].sum(axis=1) for k, b in boot.items()},
        )
        pooled[name].extra["members"] = members
    return ComparisonReport(
        "extractor", dataset, "micro_f1", len(records), confidence, n_boot, seed,
        overall, fields, by_type, pooled,
    )  # fmt: skip
