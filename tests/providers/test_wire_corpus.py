"""The wire corpus ships with the repository: where the tests find it, and that its README and
every file's attribution agree with what is there.

A clone alone must run the suite, so the corpus is found inside the repository when
LOOPLINE_WIRE_DIR is unset; each file names its source, the commit it was read at and a license
the repository may redistribute it under (MIT or Apache-2.0, also as one option of an SPDX `OR`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import wire

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "wire"
README = CORPUS / "README.md"
ALLOWED = {"MIT", "Apache-2.0"}


def _files() -> dict[str, dict[str, Any]]:
    """Every corpus file, by its path under tests/wire (e.g. "openai/responses/001_x.json")."""
    return {p.relative_to(CORPUS).as_posix(): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(CORPUS.glob("*/*/*.json"))}


def _table(heading: str) -> list[list[str]]:
    """The body rows of the first table under the README's `## heading`, cells stripped."""
    section = README.read_text(encoding="utf-8").split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _numbers(spec: str) -> set[int]:
    """"001-003, 007" -> {1, 2, 3, 7}."""
    out: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def test_with_the_variable_unset_the_corpus_is_found_inside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(wire.ENV_VAR, raising=False)
    found = wire._configured_dir()
    assert found is not None and found.resolve() == CORPUS.resolve()
    assert found.resolve().is_relative_to(REPO.resolve())
    assert wire._problem("anthropic/messages") is None
    assert {w.api for w in wire.load("openai/chat.completions")} == {"openai/chat.completions"}


def test_an_empty_variable_still_skips_and_another_directory_is_used(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv(wire.ENV_VAR, "")
    assert wire._configured_dir() is None
    assert wire.params("openai/responses")[0].marks[0].name == "skip"
    monkeypatch.setenv(wire.ENV_VAR, str(tmp_path))
    assert wire._configured_dir() == tmp_path
    problem = wire._problem("openai/responses")
    assert problem is not None and str(tmp_path / "openai" / "responses") in problem


def test_the_file_count_and_streams_of_each_api_match_the_readme() -> None:
    files = _files().values()
    counted = Counter(f"{f['provider']} {f['api']}" for f in files)
    streams = Counter(f"{f['provider']} {f['api']}" for f in files if f["stream"])
    table = {row[0]: (int(row[1]), int(row[2])) for row in _table("Contents")}
    assert table == {api: (counted[api], streams[api]) for api in counted}
    assert f"\n{sum(counted.values())} exchanges." in README.read_text(encoding="utf-8")


def test_every_file_names_its_source_commit_and_a_license_that_allows_shipping_it() -> None:
    files = _files()
    assert len(files) == 51
    for name, data in files.items():
        assert re.fullmatch(r"[\w.-]+/[\w.-]+:\S.*", data.get("source") or ""), name
        assert re.fullmatch(r"[0-9a-f]{40}", data.get("source_commit") or ""), name
        options = set(str(data.get("license") or "").split(" OR "))
        assert options & ALLOWED, f"{name}: license {data.get('license')!r} offers neither MIT nor Apache-2.0"


def test_the_sources_table_matches_each_files_attribution() -> None:
    expected: dict[str, tuple[str, str, set[str]]] = {}
    for name, data in _files().items():
        repo = data["source"].split(":", 1)[0]
        commit, license_, names = expected.setdefault(repo, (data["source_commit"], data["license"], set()))
        assert (commit, license_) == (data["source_commit"], data["license"]), f"{name}: one commit per repository"
        names.add(name)
    listed: dict[str, tuple[str, str, set[str]]] = {}
    for repo_cell, commit, license_, count, which, _cassettes in _table("Sources and licenses"):
        repo = re.fullmatch(r"\[([^]]+)\]\(https://github\.com/\1\)", repo_cell)
        assert repo is not None, repo_cell
        names = {p.relative_to(CORPUS).as_posix() for group in which.split("; ")
                 for api, _, spec in [group.partition(" ")] for n in _numbers(spec)
                 for p in CORPUS.glob(f"*/{api}/{n:03d}_*.json")}
        assert len(names) == int(count), repo_cell
        listed[repo.group(1)] = (commit.strip("`"), license_, names)
    assert listed == expected
