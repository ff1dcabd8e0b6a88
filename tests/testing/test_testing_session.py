"""What loopline's pytest plugin does to a whole session: its options never clash with a suite's own,
each test starts from the session's blocking setting, the default store is a throwaway one, and
loading the plugin imports (and can break) nothing of loopline's dependencies.

Inner sessions run with pytester; those that must start from a fresh interpreter run in a subprocess.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline.store import set_default_store

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _quiet(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)


# --- --record ---------------------------------------------------------------------------------------


OPTIONS = """
def test_options(request):
    print("MINE:", request.config.getoption("my_record"), "LOOPLINE:", request.config.getoption("loopline_record"))
"""


@pytest.mark.parametrize("where", ["anonymous", "group"])
def test_a_suite_that_defines_record_keeps_it_and_loopline_record_still_works(pytester: pytest.Pytester,
                                                                             where: str) -> None:
    add = ('parser.addoption("--record", action="store_true", dest="my_record")' if where == "anonymous" else
           'parser.getgroup("mine").addoption("--record", action="store_true", dest="my_record")')
    pytester.makeconftest(f"def pytest_addoption(parser):\n    {add}\n")
    pytester.makepyfile(test_options=OPTIONS)
    result = pytester.runpytest("-s", "--record")
    result.assert_outcomes(passed=1)
    assert "MINE: True LOOPLINE: False" in result.stdout.str()
    result = pytester.runpytest("-s", "--loopline-record")
    result.assert_outcomes(passed=1)
    assert "MINE: False LOOPLINE: True" in result.stdout.str()


def test_record_is_the_short_name_of_loopline_record_when_free(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_options=OPTIONS.replace('request.config.getoption("my_record")', '"-"'))
    result = pytester.runpytest("-s", "--record")
    result.assert_outcomes(passed=1)
    assert "LOOPLINE: True" in result.stdout.str()


# --- the blocking setting, test by test ----------------------------------------------------------------


LEAKS = """
import threading
import pytest
from loopline.testing import model_requests_blocked, set_model_requests_blocked

def test_a_turns_blocking_off_for_itself():
    set_model_requests_blocked(False)

def test_b_starts_blocked_again():
    assert model_requests_blocked()

@pytest.mark.allow_model_requests
def test_c_marked_allows_in_the_threads_it_starts_too():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(model_requests_blocked()))
    thread.start(); thread.join()
    assert seen == [False] and not model_requests_blocked()

def test_d_the_fixture_too(allow_model_requests):
    seen = []
    thread = threading.Thread(target=lambda: seen.append(model_requests_blocked()))
    thread.start(); thread.join()
    assert seen == [False]

def test_e_blocked_after_all_of_them():
    assert model_requests_blocked()
"""


def test_each_test_starts_from_the_sessions_setting(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=LEAKS)
    pytester.runpytest().assert_outcomes(passed=5)


# --- the default store --------------------------------------------------------------------------------


STORE = """
import os
from loopline import Agent
from loopline.store import default_store
from loopline.testing import ScriptedModel, reply

def test_default_store():
    Agent("a").run("Hi", model=ScriptedModel([reply("Hello.")]))
    print("DB:", os.environ.get("LOOPLINE_DB"), "THREADS:", len(default_store().list_threads()))
"""


def test_agents_without_a_store_write_to_a_throwaway_one(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.delenv("LOOPLINE_DB", raising=False)
    for variable in ("XDG_DATA_HOME", "HOME", "LOCALAPPDATA"):  # where the user's own database would be
        monkeypatch.setenv(variable, str(tmp_path / "user"))
    pytester.makepyfile(test_store=STORE)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    found = re.search(r"DB: (\S+) THREADS: (\d+)", result.stdout.str())
    assert found is not None and found.group(2) == "1"
    used = Path(found.group(1))
    assert used.name == "default.db" and used.parent.name.startswith("loopline-pytest-")
    assert not used.parent.exists()  # removed when the session ended
    assert not (tmp_path / "user").exists()  # the user's database was never touched
    assert "LOOPLINE_DB" not in os.environ


@pytest.fixture
def _fresh_default_store() -> Iterator[None]:
    """The inner session runs in this process: let it open its default store from its environment."""
    set_default_store(None)
    yield
    set_default_store(None)


@pytest.mark.usefixtures("_fresh_default_store")
def test_a_loopline_db_the_user_set_is_used(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    mine = tmp_path / "mine.db"
    monkeypatch.setenv("LOOPLINE_DB", str(mine))
    pytester.makepyfile(test_store=STORE)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert f"DB: {mine} THREADS: 1" in result.stdout.str()
    assert mine.exists()


# --- loading the plugin costs nothing and breaks nothing ---------------------------------------------

# `import loopline.testing.pytest_plugin` runs `loopline/__init__.py`, which imports every layer (see
# the report on this change). These runs give `loopline` an empty package module instead, as a lazy
# `loopline/__init__.py` would, to check what the plugin itself imports and defers.
LAZY_ROOT = """
import importlib.util, sys, types
spec = importlib.util.find_spec("loopline")
root = types.ModuleType("loopline")
root.__path__ = list(spec.submodule_search_locations)
sys.modules["loopline"] = root
BROKEN
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""

LATE = """
import sys

HEAVY = ("loopline.providers", "loopline.agent", "httpx2", "httpcore2", "openai", "vcr", "tiktoken")

def test_1_nothing_heavy_is_imported_by_the_plugin():
    assert [m for m in HEAVY if m in sys.modules] == []

def test_2_the_guard_imported_in_a_test_gets_the_sessions_setting():
    import openai, pytest
    from loopline.errors import ModelRequestBlockedError
    from loopline.testing import model_requests_blocked
    assert model_requests_blocked()
    with pytest.raises(ModelRequestBlockedError) as info:
        openai.OpenAI(api_key="k", max_retries=0).chat.completions.create(model="m", messages=[])
    assert info.value.test.endswith("test_2_the_guard_imported_in_a_test_gets_the_sessions_setting")
"""


def _run_lazy(pytester: pytest.Pytester, broken: str = "") -> pytest.RunResult:
    runner = pytester.makepyfile(run_lazy=textwrap.dedent(LAZY_ROOT).replace("BROKEN", broken))
    return pytester.run(sys.executable, str(runner), "-p", "no:cacheprovider", "-p", "no:asyncio", "-q",
                        "-W", "ignore::pytest.PytestAssertRewriteWarning", "test_late.py")


def test_the_plugin_imports_nothing_heavy_and_tells_the_guard_when_it_is_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_late=LATE)
    result = _run_lazy(pytester)
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)


def test_a_broken_dependency_of_loopline_does_not_break_a_suite_that_does_not_use_it(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_late="import httpcore2\n\ndef test_unrelated():\n    assert httpcore2.ConnectionPool\n")
    result = _run_lazy(pytester, broken="sys.modules['tiktoken'] = None  # importing it raises ImportError")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)
