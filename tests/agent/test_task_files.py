"""`files=`: paths, URLs, bytes, `FilePart`s and `{"name", "content": <base64>}` dicts, and what arrives.

A text file (CSV, JSON, Markdown, code) reaches every provider as its text: Anthropic gets a plain-text
document titled with the file's name, Chat Completions and the Responses API a text part naming the file.
The requests are sent by the official SDKs to a stand-in server on 127.0.0.1, which records them.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.readme_server import ReadmeServer

from loopline import Agent, LLMProvider, SQLiteStore
from loopline.errors import InvalidInputError
from loopline.messages import FilePart, Message
from loopline.providers import get_adapter
from loopline.testing import assert_result
from sdk_clients import sdk_client

CSV = "city,temp_c\nOslo,12\nRome,24\n"
CSV_B64 = base64.b64encode(CSV.encode()).decode()
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def parts_of(tmp_path: Path, *files: Any) -> tuple[Any, ...]:
    agent = Agent("filer", store=SQLiteStore(tmp_path / "files.db"))
    agent.add_task("Read these.", files=list(files))
    return agent.thread[0].parts[1:]


def test_the_seed_form_a_name_and_base64_content(tmp_path: Path) -> None:
    assert parts_of(tmp_path, {"name": "data.csv", "content": CSV_B64}) == (
        FilePart(media_type="text/csv", data=CSV_B64, filename="data.csv"),)


def test_a_file_dict_may_carry_its_media_type_bytes_or_a_data_url(tmp_path: Path) -> None:
    wrapped = base64.encodebytes(CSV.encode() * 30).decode()  # base64 broken into lines, as some encoders write it
    assert parts_of(tmp_path, {"name": "notes", "content": CSV_B64, "media_type": "text/csv"},
                    {"name": "photo", "content": PNG},
                    {"name": "scan", "content": f"data:application/pdf;base64,{_b64(PDF)}"},
                    {"name": "long.csv", "content": wrapped}) == (
        FilePart(media_type="text/csv", data=CSV_B64, filename="notes"),
        FilePart(media_type="image/png", data=_b64(PNG), filename="photo"),
        FilePart(media_type="application/pdf", data=_b64(PDF), filename="scan"),
        FilePart(media_type="text/csv", data=_b64(CSV.encode() * 30), filename="long.csv"))


def test_bytes_are_told_by_their_first_bytes(tmp_path: Path) -> None:
    assert parts_of(tmp_path, PNG, bytearray(PDF), CSV.encode()) == (
        FilePart(media_type="image/png", data=_b64(PNG)),
        FilePart(media_type="application/pdf", data=_b64(PDF)),
        FilePart(media_type="text/plain", data=CSV_B64))


def test_paths_urls_and_one_file_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(CSV)
    (tmp_path / "view.tsx").write_text("export const x = 1;\n")  # an extension mimetypes does not know
    assert parts_of(tmp_path, tmp_path / "data.csv", str(tmp_path / "view.tsx"), "https://example.test/a.png") == (
        FilePart(media_type="text/csv", data=CSV_B64, filename="data.csv"),
        FilePart(media_type="text/plain", data=_b64(b"export const x = 1;\n"), filename="view.tsx"),
        FilePart(media_type="image/png", url="https://example.test/a.png"))
    agent = Agent("filer", store=SQLiteStore(tmp_path / "one.db"))
    agent.add_task("Read it.", files={"name": "data.csv", "content": CSV_B64})  # type: ignore[arg-type]
    assert agent.thread[0].parts[1] == FilePart(media_type="text/csv", data=CSV_B64, filename="data.csv")


NOT_BASE64 = r"file 'data.csv' \(files\[0\]\): 'content' is not valid base64"
BAD_FILES: list[tuple[Any, str]] = [  # files=, what the error says
    ([{"name": "data.csv", "content": "not base64!"}], NOT_BASE64),
    ([{"name": "data.csv", "content": "YWJjZ"}], NOT_BASE64),
    ([{"name": "data.csv"}], r"file 'data.csv' \(files\[0\]\) has no 'content'"),
    ([{"content": CSV_B64}], r"files\[0\] has no 'name'"),
    ([{"name": "data.csv", "content": CSV_B64, "size": 3}], r"file 'data.csv' \(files\[0\]\) has unknown key 'size'"),
    ([{"name": "data.csv", "content": None}], r"'content' must be base64 text \(or bytes\); it is None"),
    ([{"name": "", "content": CSV_B64}], r"'name' \(and 'media_type', if given\) must be non-empty strings"),
    (["ok.csv", {"filename": "x.csv", "data": CSV_B64}], r"files\[1\] has unknown key 'data', unknown key 'filename'"),
    ([b"\x00\x01\x02\xff"], r"files\[0\]: bytes of an unknown kind"),
    ([None], r"files\[0\] is None"),
    ([42], r"files\[0\] is of type int"),
    ([FilePart(media_type="text/csv", data="a,b", filename="data.csv")],
     r"file 'data.csv' \(files\[0\]\): FilePart.data is not valid base64"),
    ([FilePart(media_type="image/png")], r"files\[0\] is a FilePart with no data, url or file id"),
    (["missing.csv"], r"file 'missing.csv' \(files\[0\]\) does not exist"),
    (42, "files is of type int"),
]


@pytest.mark.parametrize(("files", "says"), BAD_FILES)
def test_a_bad_file_is_refused_naming_it_and_nothing_is_created(files: Any, says: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.csv").write_text(CSV)
    store = SQLiteStore(tmp_path / "files.db")
    agent = Agent("filer", store=store)
    with pytest.raises(InvalidInputError, match=says) as info:
        agent.add_task("Read these.", files=files)
    assert info.value.field.startswith("files")
    assert agent.execution is None
    assert (list(store.list_threads()), list(store.list_executions())) == ([], [])


# --- what each provider is sent -----------------------------------------------------------------------


def _rendered(provider: LLMProvider, *files: Any) -> dict[str, Any]:
    agent = Agent("filer", store=SQLiteStore(":memory:"))
    agent.add_task("Which city is warmer?", files=list(files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is dropped or converted with a warning
        return agent.request_kwargs(provider, include_tools=False)


def test_a_csv_file_is_sent_as_text_to_every_provider() -> None:
    seed = {"name": "data.csv", "content": CSV_B64}
    assert _rendered(LLMProvider.OPEN_AI, seed)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Which city is warmer?"},
        {"type": "text", "text": f'<file name="data.csv" media_type="text/csv">\n{CSV}\n</file>'}]}]
    assert _rendered(LLMProvider.OPEN_AI_RESPONSES, seed)["input"] == [{"role": "user", "content": [
        {"type": "input_text", "text": "Which city is warmer?"},
        {"type": "input_text", "text": f'<file name="data.csv" media_type="text/csv">\n{CSV}\n</file>'}]}]
    assert _rendered(LLMProvider.ANTHROPIC, seed)["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Which city is warmer?"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": CSV},
         "title": "data.csv"}]}]


@pytest.mark.parametrize("provider", [LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC])
def test_json_markdown_and_code_go_as_text_and_pdfs_and_images_as_files(provider: LLMProvider) -> None:
    texts = {"facts.json": '{"Oslo": 12}', "notes.md": "# Notes\n- warm", "main.go": "package main\n"}
    files = [{"name": name, "content": _b64(text.encode())} for name, text in texts.items()]
    body = json.dumps(_rendered(provider, *files, {"name": "a.pdf", "content": _b64(PDF)}, PNG))
    for text in texts.values():
        assert json.dumps(text)[1:-1] in body
    assert _b64(PDF) in body and _b64(PNG) in body
    assert body.count(_b64(PDF)) == 1 and "image" in body


def test_an_anthropic_text_document_reads_back_as_the_file() -> None:
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": CSV},
             "title": "data.csv"}
    [message] = get_adapter(LLMProvider.ANTHROPIC).parse([{"role": "user", "content": [block]}])
    assert message.parts == (FilePart(media_type="text/plain", data=CSV_B64, filename="data.csv"),)
    assert get_adapter(LLMProvider.ANTHROPIC).render_message(Message(role="user", parts=message.parts)) == [
        {"role": "user", "content": [block]}]


# --- through the official SDKs ------------------------------------------------------------------------


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadmeServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 only, never through a proxy
    with ReadmeServer() as running:
        yield running


@pytest.mark.parametrize("model", ["gpt-4o", "openai_responses:gpt-5-mini", "anthropic:claude-sonnet-4-5"])
def test_the_csv_text_arrives_at_the_server_through_the_sdk(model: str, server: ReadmeServer, tmp_path: Path) -> None:
    client = sdk_client("anthropic" if model.startswith("anthropic") else "openai", server=server.url)
    agent = Agent("filer", store=SQLiteStore(tmp_path / "files.db"))
    agent.add_task("Which city is warmer?", files=[{"name": "data.csv", "content": CSV_B64}])
    assert_result(agent.run(model=model, client=client), ok=True)
    [(path, body)] = server.received
    assert path.endswith(("/chat/completions", "/responses", "/messages"))
    content = (body.get("messages") or body.get("input"))[0]["content"]
    texts = [b.get("text") or (b.get("source") or {}).get("data") for b in content]
    assert any(text is not None and CSV in text for text in texts), content
    if model.startswith("anthropic"):
        assert content[1] == {"type": "document", "title": "data.csv",
                              "source": {"type": "text", "media_type": "text/plain", "data": CSV}}
