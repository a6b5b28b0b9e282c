"""A simulated reviewer: streams labeled documents through the API, corrects, commits.

It corrects every prediction against the ground truth, and makes mistakes of its own on purpose
at ``error_rate`` (a wrong type, a dropped entity, a mistyped value), as real reviewers do, so
that the loop's feedback-quality checks have something to find. A document with given words
(``words``, from the folder's ``words.jsonl``) is uploaded with them, as a client with its own
OCR would.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from selfimprove_assets.lib.documents.given_words import GivenWords
from selfimprove_assets.lib.documents.labels import LabeledDocument

logger = logging.getLogger(__name__)


class ReviewerSimulator:
    def __init__(
        self,
        api: str,
        token: str,
        *,
        error_rate: float = 0.0,
        rng: random.Random | None = None,
        client: httpx.Client | None = None,
        reviewer: str = "simulated-reviewer",
        words: Mapping[str, GivenWords] | None = None,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {error_rate}")
        self.error_rate = error_rate
        self.rng = rng or random.Random(0)
        self.client = client or httpx.Client(base_url=api.rstrip("/"), timeout=120.0)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.reviewer = reviewer
        self.words = dict(words or {})
        self.known_types: set[str] = set()
        self.stats: dict[str, int] = {
            "uploaded": 0,
            "reviewed": 0,
            "committed": 0,
            "type_corrected": 0,
            "reviewer_mistakes": 0,
            "failed": 0,
        }
        self.predictions: list[dict[str, Any]] = []

    def _verified(self, doc: LabeledDocument) -> dict[str, Any]:
        doc_type = doc.doc_type
        entities = [
            {
                "label": e.label,
                "text": e.text,
                "page": e.page,
                **({"bbox": list(e.bbox)} if e.bbox else {}),
            }
            for e in doc.entities
        ]
        if self.error_rate and self.rng.random() < self.error_rate:
            self.stats["reviewer_mistakes"] += 1
            choice = self.rng.random()
            others = sorted(self.known_types - {doc_type})
            if choice < 0.4 and others:
                doc_type = self.rng.choice(others)
            elif entities and choice < 0.7:
                entities.pop(self.rng.randrange(len(entities)))
            elif entities:
                i = self.rng.randrange(len(entities))
                entities[i] = entities[i] | {"text": entities[i]["text"][::-1]}
        return {"doc_type": doc_type, "entities": entities}

    def review_batch(self, documents: Sequence[LabeledDocument]) -> dict[str, Any]:
        self.known_types.update(d.doc_type for d in documents)
        ids: list[str] = []
        for doc in documents:
            form = {"external_id": doc.document_id}
            if doc.document_id in self.words:
                form["words"] = self.words[doc.document_id].to_part()
            with doc.file.open("rb") as fh:
                response = self.client.post(
                    "/v1/documents",
                    headers=self.headers,
                    files={"file": (doc.file.name, fh)},
                    data=form,
                )
            if not response.is_success:
                self.stats["failed"] += 1
                logger.warning("upload of %s failed: %s", doc.file.name, response.text[:300])
                continue
            body = response.json()
            self.stats["uploaded"] += 1
            predicted_type = body["prediction"]["doc_type"]
            verified = self._verified(doc)
            self.stats["type_corrected"] += int(predicted_type != verified["doc_type"])
            review = self.client.put(
                f"/v1/documents/{body['id']}/review", headers=self.headers, json=verified
            )
            if not review.is_success:
                self.stats["failed"] += 1
                logger.warning("review of %s failed: %s", doc.file.name, review.text[:300])
                continue
            self.stats["reviewed"] += 1
            self.predictions.append(
                {
                    "document_id": body["id"],
                    "external_id": doc.document_id,
                    **body["model_versions"],
                }
            )
            ids.append(body["id"])
        if not ids:
            return {}
        commit = self.client.post("/v1/commits", headers=self.headers, json={"document_ids": ids})
        if not commit.is_success:
            self.stats["failed"] += len(ids)
            logger.warning("commit failed: %s", commit.text[:300])
            return {}
        result = commit.json()
        self.stats["committed"] += int(result.get("committed", 0))
        return result
