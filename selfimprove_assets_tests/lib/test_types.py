"""The rules that come with the shared shapes: BIO word tags and box unions."""

from __future__ import annotations

import pytest

from selfimprove_assets.lib.types import bio_labels, labels_from_tags, union_box


def test_labels_come_from_tags() -> None:
    assert labels_from_tags([["O", "B-b", "I-b"], ["B-a"]]) == ["a", "b"]
    assert bio_labels(["b", "a"]) == ["O", "B-a", "I-a", "B-b", "I-b"]


def test_a_tag_that_is_not_bio_is_rejected() -> None:
    with pytest.raises(ValueError, match="'total' is not BIO"):
        labels_from_tags([["O", "total"]])


def test_the_union_holds_every_box_in_page_or_pixel_coordinates() -> None:
    assert union_box([(10, 40, 40, 50), (45, 38, 80, 52)]) == (10, 38, 80, 52)
    assert union_box([(1.5, 2.0, 3.0, 4.0), (0.5, 3.0, 2.0, 6.5)]) == (0.5, 2.0, 3.0, 6.5)
