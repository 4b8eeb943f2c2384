"""The docs against the code they describe.

The grant SQL the docs print is run as printed (only the names are swapped for this test's), and
the recorder and the operator tools then do their real work under the role it made. The README
stays short, every relative link resolves, every shell block parses, and each reference table
lives in one page and lists everything it must.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from size_recorder import constants as c
from size_recorder.cli import main
from size_recorder.core.outcomes import Outcome
from size_recorder.core.recorder import Message, Recorder
from tests.support.aws import unique
from tests.support.events import s3_body
from tests.support.postgres import DocumentsTable, recorder_env

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = (README, *sorted((ROOT / "docs").glob("*.md")))
README_MAX_LINES = 200

# A fenced block, possibly indented under a list item; the closing fence has the same indent.
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def prose(page: Path) -> str:
    """The page without its fenced blocks: a `# comment` in a shell block is not a heading."""
    return _FENCE.sub("", text(page))


def fenced_blocks(page: Path, lang: str) -> list[str]:
    blocks = []
    for match in _FENCE.finditer(text(page)):
        if match["lang"] == lang:
            indent = len(match["indent"])
            blocks.append("\n".join(line[indent:] for line in match["body"].splitlines()))
    return blocks


def table_rows(page: Path) -> list[str]:
    """The first cell of every Markdown table row in the page."""
    return [line.split("|")[1].strip() for line in prose(page).splitlines() if line.startswith("|")]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", prose(page), re.M)
    return {github_anchor(heading) for heading in headings}


def marked_sql(marker: str) -> str:
    """The ```sql block right after `<!-- sql: marker -->`; exactly one page may hold it."""
    pattern = re.compile(rf"^<!-- sql: {re.escape(marker)} -->\n```sql\n(.*?)^```$", re.M | re.S)
    found = [m[1] for page in PAGES for m in pattern.finditer(text(page))]
    assert len(found) == 1, f"{len(found)} sql blocks are marked <!-- sql: {marker} -->"
    return str(found[0])


# --- The grants ------------------------------------------------------------------------------

# The names the docs' SQL uses: psql's own variable for the current database, Django's default
# schema and table, and the roles the docs create.
DOCS_TABLE = "documents_document"
DOCS_SCHEMA = "public"
RECORDER_ROLE = "size_recorder"
OPERATOR_ROLE = "size_recorder_ops"


def grant_here(sql_text: str, *, docs_role: str, role: str, table: DocumentsTable) -> str:
    """The documented SQL with its names swapped for this test's role, schema and table.

    `:"DBNAME"` is what psql would interpolate: the current database, as a quoted identifier.
    """
    dbname = conninfo_to_dict(table.url).get("dbname") or "postgres"
    for pattern, name in (
        (r':"DBNAME"', f'"{dbname}"'),
        (rf"\bSCHEMA {DOCS_SCHEMA}\b", f'SCHEMA "{table.schema}"'),
        (rf"\b{DOCS_TABLE}\b", f'"{table.schema}".{table.name}'),
        (rf"\b{docs_role}\b", f'"{role}"'),
    ):
        assert re.search(pattern, sql_text), f"the documented grant no longer names {pattern}"
        sql_text = re.sub(pattern, name, sql_text)
    return sql_text


def without_table_grant(sql_text: str) -> str:
    """The statements that do not grant on the table: role, database and schema."""
    statements = [s.strip() for s in sql_text.split(";") if s.strip()]
    kept = [s for s in statements if not re.search(rf"\bON\s+{DOCS_TABLE}\b", s)]
    assert len(kept) == len(statements) - 1, "expected exactly one GRANT on the table"
    return ";\n".join(kept) + ";\n"


@pytest.fixture
def role(database_url: str) -> Iterator[str]:
    """A fresh role name; whatever the test granted it is revoked and the role dropped after."""
    name = f"docs_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


def run_grant(sql_text: str, *, docs_role: str, role: str, table: DocumentsTable) -> str:
    """Run the documented SQL as the database owner; a URL that acts as `role` (SET ROLE)."""
    with psycopg.connect(table.url, autocommit=True) as conn:
        conn.execute(grant_here(sql_text, docs_role=docs_role, role=role, table=table))
    url = make_conninfo(table.url, options=f"-c role={role}")
    with psycopg.connect(url) as conn:  # without this, a test could pass as the superuser
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    return url


def record_one(recorder: Recorder, *, sequencer: str | None, size: int = 512) -> list[Outcome]:
    batch = recorder.record([Message("m0", s3_body("media/uploads/a.pdf", size, sequencer))])
    return [record.outcome for record in batch.messages[0].records]


@pytest.mark.parametrize(
    ("marker", "docs_role"),
    [
        pytest.param("recorder-grant", RECORDER_ROLE, id="recorder"),
        # The operator's role runs `replay --mode direct` and `worker`: the recorder's write.
        pytest.param("operator-grant", OPERATOR_ROLE, id="operator"),
    ],
)
def test_grant_lets_the_recorder_record_with_a_sequencer(
    marker: str,
    docs_role: str,
    documents: DocumentsTable,
    role: str,
    make_recorder: Callable[[dict[str, str]], Recorder],
) -> None:
    url = run_grant(marked_sql(marker), docs_role=docs_role, role=role, table=documents)
    documents.insert("uploads/a.pdf")
    env = {c.ENV_DATABASE_URL: url, c.ENV_SEQUENCER_COLUMN: "size_sequencer"}
    recorder = make_recorder(recorder_env(documents, **env))

    assert record_one(recorder, sequencer="0A1B") == [Outcome.RECORDED]
    assert documents.row("uploads/a.pdf") == (512, "0A1B")


def test_recorder_grant_without_a_sequencer_lets_the_recorder_record(
    documents: DocumentsTable, role: str, make_recorder: Callable[[dict[str, str]], Recorder]
) -> None:
    grant = without_table_grant(marked_sql("recorder-grant")) + marked_sql(
        "recorder-grant-without-sequencer"
    )
    url = run_grant(grant, docs_role=RECORDER_ROLE, role=role, table=documents)
    documents.insert("uploads/a.pdf")
    recorder = make_recorder(recorder_env(documents, **{c.ENV_DATABASE_URL: url}))

    assert record_one(recorder, sequencer=None) == [Outcome.RECORDED]
    assert documents.sizes() == {"uploads/a.pdf": 512}


@pytest.fixture
def operator_bucket(
    documents: DocumentsTable, role: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The operator grant run, the shell's variables pointing at it, and a bucket holding one
    object whose row exists: `media/legacy/a.pdf`, 7 bytes."""
    url = run_grant(
        marked_sql("operator-grant"), docs_role=OPERATOR_ROLE, role=role, table=documents
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv(c.ENV_DATABASE_URL, url)
    monkeypatch.setenv(c.ENV_TABLE, documents.qualified)
    monkeypatch.setenv(c.ENV_KEY_PREFIX, "media/")
    bucket = unique("docs")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="media/legacy/a.pdf", Body=b"x" * 7)
    return bucket


def test_operator_grant_lets_backfill_fill_a_null_row(
    operator_bucket: str, documents: DocumentsTable
) -> None:
    documents.insert("legacy/a.pdf")

    assert main(["backfill", "--bucket", operator_bucket, "--json"]) == 0
    assert documents.sizes() == {"legacy/a.pdf": 7}


def test_operator_grant_lets_check_fix_a_differing_size(
    operator_bucket: str, documents: DocumentsTable
) -> None:
    documents.insert("legacy/a.pdf", size=1)

    assert main(["check", "--bucket", operator_bucket, "--fix", "--json"]) == 0
    assert documents.sizes() == {"legacy/a.pdf": 7}


# --- Shape and links -------------------------------------------------------------------------


def test_readme_is_short() -> None:
    lines = len(text(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference to docs/"


def resolves(page: Path, target: str) -> bool:
    """A relative link names an existing file and, if it has one, a heading of that page."""
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    if not linked.exists():
        return False
    return not anchor or linked.suffix != ".md" or anchor in anchors(linked)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file_and_heading(page: Path) -> None:
    targets = [m["target"] for m in _LINK.finditer(prose(page))]
    relative = [t for t in targets if not re.match(r"[a-z]+:", t)]  # not https:, mailto:
    broken = [t for t in relative if not resolves(page, t)]
    assert not broken, f"{page.name}: broken links {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_shell_block_parses_and_has_no_placeholder(page: Path) -> None:
    for block in fenced_blocks(page, "sh"):
        assert "..." not in block, f"{page.name}: a placeholder in\n{block}"
        parsed = subprocess.run(
            ["bash", "-n"], input=block, text=True, capture_output=True, check=False
        )
        assert parsed.returncode == 0, f"{page.name}: {parsed.stderr}\n{block}"


def test_every_sql_block_has_no_placeholder() -> None:
    for page in PAGES:
        for block in fenced_blocks(page, "sql"):
            assert "..." not in block, f"{page.name}: a placeholder in\n{block}"


# --- Each reference table in one page, complete ---------------------------------------------


def environment_variables() -> list[str]:
    return [value for name, value in vars(c).items() if name.startswith("ENV_")]


def context_keys() -> list[str]:
    context = json.loads(text(ROOT / "cdk.json"))["context"]
    return [key for key in context if key.startswith("size-recorder:")]


@pytest.mark.parametrize(
    ("home", "names"),
    [
        pytest.param("docs/configuration.md", environment_variables, id="variables"),
        pytest.param("docs/deploy.md", context_keys, id="context-keys"),
    ],
)
def test_reference_table_lists_each_name_once_in_one_page(
    home: str, names: Callable[[], list[str]]
) -> None:
    expected = names()
    assert expected
    for page in PAGES:
        rows = table_rows(page)
        for name in expected:
            count = rows.count(f"`{name}`")
            wanted = 1 if page == ROOT / home else 0
            assert count == wanted, f"{page.name} has {count} table rows for {name}"


@pytest.mark.parametrize(
    ("header", "home"),
    [
        ("variable", "configuration.md"),
        ("context key", "deploy.md"),
        ("output", "deploy.md"),
        ("outcome", "operations.md"),
        ("alarm", "operations.md"),
        ("exit status", "operations.md"),
    ],
)
def test_reference_table_has_one_home(header: str, home: str) -> None:
    holders = [page.name for page in PAGES if f"| {header} |" in prose(page)]
    assert holders == [home]
