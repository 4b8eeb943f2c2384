"""The files the demo uploads, and the story each one tells about the event path.

Pure data: the runner turns each story into uploads and inserts, and checks each row against
`size` at the end. Names are what Django stores in the `file` column; the S3 key adds
django-storages' `AWS_LOCATION` (`media/`), which the recorder strips before matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "media/"
# S3 refuses multipart parts under 5 MiB except the last one.
MULTIPART_PART_SIZE = 5 * 1024 * 1024


class Story(StrEnum):
    """How the row and the object come to exist, in the order a real app would do it."""

    ROW_FIRST = "row, then upload"  # the app saves the model, the browser uploads
    ROW_LATE = "upload, then row"  # the upload finishes before the app's transaction commits
    ROW_AFTER_DLQ = "row only after the DLQ"  # a bug or a lost request: repaired by replay
    BEFORE_RECORDER = "before the recorder"  # already in the bucket: filled by backfill


class Upload(StrEnum):
    PUT = "PutObject"
    MULTIPART = "multipart"
    COPY = "CopyObject"


@dataclass(frozen=True, slots=True)
class DemoFile:
    name: str
    size: int
    story: Story
    upload: Upload = Upload.PUT
    copy_of: str | None = None  # the name of the object a COPY duplicates

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name


_INVOICE = "invoices/2026/INV-0042.pdf"
_INVOICE_SIZE = 48_213

FILES: tuple[DemoFile, ...] = (
    DemoFile("legacy/2019 contract.pdf", 731_002, Story.BEFORE_RECORDER),
    DemoFile("legacy/team photo.png", 2_048_511, Story.BEFORE_RECORDER),
    DemoFile(_INVOICE, _INVOICE_SIZE, Story.ROW_FIRST),
    DemoFile("reports/Q3 board report.pdf", 1_204_551, Story.ROW_FIRST),
    DemoFile("notes/c++ tips+tricks.txt", 3_327, Story.ROW_FIRST),
    DemoFile("cv/Zoë Müller – résumé 履歴書.docx", 96_120, Story.ROW_FIRST),  # noqa: RUF001 - on purpose
    DemoFile(
        "videos/launch keynote.mp4",
        MULTIPART_PART_SIZE + 377_216,
        Story.ROW_FIRST,
        Upload.MULTIPART,
    ),
    DemoFile(
        "invoices/2026/INV-0042 (copy).pdf",
        _INVOICE_SIZE,
        Story.ROW_FIRST,
        Upload.COPY,
        copy_of=_INVOICE,
    ),
    DemoFile("scans/receipt from phone.jpg", 412_889, Story.ROW_LATE),
    DemoFile("exports/orders never saved.csv", 18_004, Story.ROW_AFTER_DLQ),
)

# The app inserts the ROW_LATE row this long after the upload finished.
LATE_ROW_DELAY_S = 1.5


def files_with(story: Story) -> tuple[DemoFile, ...]:
    return tuple(f for f in FILES if f.story is story)
