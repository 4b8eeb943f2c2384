"""What `discard` calls each dead letter, and which ones a selection takes (no queue, no DB)."""

from __future__ import annotations

import json

import pytest

from size_recorder import constants as c
from size_recorder.core.config import Settings
from size_recorder.ops.discard import Category, DiscardError, Selection, Verdict, classify
from tests.support.events import load_event, s3_body, s3_record

SETTINGS = Settings.from_env(
    {
        c.ENV_DATABASE_URL: "postgresql://unused@localhost/app",
        c.ENV_TABLE: "documents_document",
        c.ENV_KEY_PREFIX: "media/",
    }
)


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ("not json", Category.INVALID),
        (s3_body("media/a.pdf", -1), Category.INVALID),
        (s3_body("elsewhere/a.pdf", 1), Category.ROUTED_NOWHERE),
        (load_event("s3_test_event.json"), Category.SKIPPED),
        (s3_body("media/a.pdf", 1), Category.ROUTED),
        (load_event("s3_delete.json"), Category.ROUTED),
    ],
)
def test_classify_gives_each_dead_letter_the_recorders_category(
    body: str, category: Category
) -> None:
    assert classify(body, SETTINGS).category is category


def test_one_invalid_record_makes_the_whole_message_invalid() -> None:
    body = json.dumps({"Records": [s3_record("media/a.pdf", 1), s3_record("media/b.pdf", -1)]})

    verdict = classify(body, SETTINGS)

    assert verdict.category is Category.INVALID
    assert verdict.keys == ("media/a.pdf", "media/b.pdf")


def test_one_routed_object_keeps_a_message_out_of_routed_nowhere() -> None:
    body = json.dumps({"Records": [s3_record("elsewhere/a.pdf", 1), s3_record("media/b.pdf", 2)]})

    assert classify(body, SETTINGS).category is Category.ROUTED


def test_routed_nowhere_names_the_prefix_it_was_judged_by() -> None:
    verdict = classify(s3_body("elsewhere/a+b.pdf", 1), SETTINGS)

    assert verdict.keys == ("elsewhere/a b.pdf",)  # decoded, as the recorder reads it
    assert "outside SIZE_RECORDER_KEY_PREFIX='media/' here" in verdict.reason


def test_selection_needs_a_selector_or_all() -> None:
    with pytest.raises(DiscardError, match="nothing selected"):
        Selection()
    with pytest.raises(DiscardError, match="give it alone"):
        Selection(everything=True, message_ids=frozenset({"m1"}))


def test_routed_messages_cannot_be_selected_by_reason() -> None:
    with pytest.raises(DiscardError, match="select such messages by --key or --message-id"):
        Selection(categories=frozenset({Category.ROUTED}))


def test_selection_widens_within_a_selector_and_narrows_across_them() -> None:
    selection = Selection(
        categories=frozenset({Category.INVALID}), key_patterns=("media/tmp/*", "media/x.pdf")
    )

    def verdict(category: Category, *keys: str) -> Verdict:
        return Verdict(category, "", keys)

    assert selection.matches("m", verdict(Category.INVALID, "media/tmp/deep/a.pdf"))
    assert selection.matches("m", verdict(Category.INVALID, "media/x.pdf"))
    assert not selection.matches("m", verdict(Category.INVALID, "media/x.pdfs"))
    assert not selection.matches("m", verdict(Category.INVALID))  # unreadable: names no key
    assert not selection.matches("m", verdict(Category.SKIPPED, "media/tmp/a.pdf"))
