"""The documentation stays true to the repository: the README stays a front door, every relative
link in the README and docs/ leads somewhere, no page cites a design note that is not in the
repository, and the one environment table (docs/operations.md, "Configuration") lists exactly
the variables of `.env.example`. Plain file reading: no database, no broker.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
ENV_EXAMPLE = REPO / ".env.example"
OPERATIONS = REPO / "docs" / "operations.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, …
ENV_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=", re.M)  # `# NAME=` documents an optional one
BACKTICKED_NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def _prose(text: str) -> str:
    """The text without fenced blocks and with code spans blanked (links inside code are not links)."""
    text = FENCE.sub("", text)
    return CODE_SPAN.sub(lambda m: "x" * len(m.group(0)), text)


def _links(page: Path) -> list[str]:
    text = _prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f'docs/operations.md has no "## {title}" section'
    return match.group(1)


def env_example_names() -> set[str]:
    return set(ENV_ASSIGNMENT.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))


def configuration_table_names() -> set[str]:
    """Variable names in the first column of the table under "## Configuration"."""
    names: set[str] = set()
    for line in _section(OPERATIONS.read_text(encoding="utf-8"), "Configuration").splitlines():
        cells = line.strip().strip("|").split("|")
        if line.lstrip().startswith("|") and len(cells) > 1:
            names |= set(BACKTICKED_NAME.findall(cells[0]))
    return names


def test_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= 8192, f"README.md is {size} bytes; keep it under 8 kB (details belong in docs/)"


def test_readme_leads_to_every_page_of_the_docs() -> None:
    linked = {(README.parent / target.split("#", 1)[0]).resolve() for target in _links(README)}
    missing = [page.name for page in DOCS if page.resolve() not in linked]
    assert not missing, f"README.md does not link to docs/{missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_lead_to_existing_files(page: Path) -> None:
    broken = []
    for target in _links(page):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(target)
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_cites_the_design_note_outside_the_repository(page: Path) -> None:
    assert "DESIGN.md" not in page.read_text(encoding="utf-8"), (
        f"{page.relative_to(REPO)} cites DESIGN.md, which is not in this repository: "
        "say it here or point at docs/architecture.md / docs/contracts.md"
    )


def test_the_configuration_table_lists_exactly_the_variables_of_env_example() -> None:
    documented, example = configuration_table_names(), env_example_names()
    assert example, ".env.example lists no variables"
    assert documented, 'docs/operations.md "Configuration" has no variable table'
    only_example = sorted(example - documented)
    only_table = sorted(documented - example)
    assert not only_example and not only_table, (
        f'in .env.example but not in docs/operations.md "Configuration": {only_example}; '
        f"in that table but not in .env.example: {only_table}"
    )


def test_no_other_page_keeps_its_own_environment_table() -> None:
    """One table only: a second copy drifts. Other pages link to operations.md#configuration."""
    example = env_example_names()
    for page in PAGES:
        if page == OPERATIONS:
            continue
        rows = [line for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines() if line.startswith("|")]
        listed = {name for row in rows for name in BACKTICKED_NAME.findall(row.split("|")[1])}
        assert len(listed & example) < 5, f"{page.relative_to(REPO)} keeps its own table of variables: link instead"
