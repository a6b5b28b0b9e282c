"""The document classifier: LayoutLM sequence classification with a calibrated confidence.

Why LayoutLM sequence classification rather than plain BERT: the same backbone, featurizer
and 2-D embeddings as the extractor, so the two models share one code path, and layout (a
header block, a table of amounts) is often what tells document types apart. The pooled
``[CLS]`` vector feeds the head; documents longer than one window are classified per window
and the windows' logits averaged.

Why temperature scaling: a fine-tuned network's softmax is over-confident, and reviewers and
the retrain policy read ``doc_type_confidence`` as a probability. One scalar ``T`` fitted on
the validation split (minimising negative log-likelihood) fixes the scale without changing
which type wins; it is stored in the model spec.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from selfimprove_assets.lib.models.featurizer import Window

logger = logging.getLogger(__name__)


@dataclass
class ClassifierResult:
    doc_type: str
    confidence: float
    probabilities: dict[str, float]


def document_logits(
    windows: Sequence[Window], logits: Sequence[torch.Tensor], n_docs: int
) -> torch.Tensor:
    """Mean window logits per document (``doc_index`` picks the row)."""
    if not logits:
        raise ValueError("no windows to classify")
    width = logits[0].shape[-1]
    total = torch.zeros((n_docs, width))
    count = torch.zeros(n_docs)
    for window, row in zip(windows, logits, strict=True):
        total[window.doc_index] += row.float()
        count[window.doc_index] += 1
    if bool((count == 0).any()):
        raise ValueError("every document needs at least one window")
    return total / count.unsqueeze(-1)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 200) -> float:
    """The temperature minimising validation NLL (clamped to [0.05, 20])."""
    if logits.shape[0] == 0:
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")
    logits = logits.detach().float()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp().clamp(0.05, 20.0))
    if not math.isfinite(temperature):
        temperature = 1.0
    logger.info("fitted temperature %.3f on %d validation documents", temperature, len(labels))
    return temperature


def classify(
    logits: torch.Tensor, labels: Sequence[str], temperature: float
) -> list[ClassifierResult]:
    """Calibrated results for a matrix of document logits."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    out = []
    for row in probs:
        best = int(row.argmax())
        out.append(
            ClassifierResult(
                doc_type=labels[best],
                confidence=float(row[best]),
                probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
            )
        )
    return out
