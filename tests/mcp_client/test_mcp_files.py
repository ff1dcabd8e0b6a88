"""Images and audio from an MCP tool reach the model as files of the tool result, in each provider's
format where its API takes them there, and are named in the text where it does not (Chat Completions
takes only text in a tool message; no API takes audio in a tool result)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_responses import call as chat_call
from chat_responses import completion
from loopline import Agent, FilePart, InMemoryStore, LLMProvider, SQLiteStore
from loopline.mcp import MCPServerStdio
from loopline.providers import LossyRenderingWarning

SERVER = str(Path(__file__).parent / "servers" / "tools_server.py")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
WAV = "UklGRgAAAABXQVZF"
IMAGE = FilePart(media_type="image/png", data=PNG)
NOT_SHOWN_PNG = "[the tool returned a image/png file, 69 bytes, not shown: {why}]"
NOT_SHOWN_WAV = "[the tool returned a audio/wav file, 12 bytes, not shown: {why}]"


@pytest.fixture
def server() -> Iterator[MCPServerStdio]:
    source = MCPServerStdio(sys.executable, [SERVER], timeout=10)
    yield source
    source.close()


def chart_picture_sound(agent: Agent) -> None:
    """The manual loop: the model calls the three tools that return files, and they run."""
    agent.add_task("Draw.")
    agent.add_messages(completion(chat_call("c1", "chart", title="sales"), chat_call("c2", "picture"),
                                  chat_call("c3", "sound")))
    agent.run_tools(agent.pending_tool_calls)


def test_the_tool_results_carry_the_images_and_audio_as_files(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    agent.add_task("Draw.")
    agent.add_messages(completion(chat_call("c1", "chart", title="sales"), chat_call("c2", "sound")))
    chart, sound = agent.run_tools(agent.pending_tool_calls)
    assert (chart.is_success, chart.content, chart.files) == (True, "chart: sales", (IMAGE,))
    assert (sound.is_success, sound.content, sound.files) == (True, "", (FilePart(media_type="audio/wav", data=WAV),))


def test_anthropic_gets_image_blocks_in_the_tool_result(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    chart_picture_sound(agent)
    with pytest.warns(LossyRenderingWarning, match="Anthropic takes no audio/wav files"):
        turn = agent.get_messages(LLMProvider.ANTHROPIC)[-1]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    audio = {"type": "text", "text": NOT_SHOWN_WAV.format(why="Anthropic takes no audio/wav files")}
    assert turn == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": [{"type": "text", "text": "chart: sales"}, image],
         "is_error": False},
        {"type": "tool_result", "tool_use_id": "c2", "content": [image], "is_error": False},
        {"type": "tool_result", "tool_use_id": "c3", "content": [audio], "is_error": False},
    ]}


def test_the_responses_api_gets_input_images_in_the_function_call_output(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    chart_picture_sound(agent)
    with pytest.warns(LossyRenderingWarning, match="takes no audio in a tool result"):
        items = agent.get_messages(LLMProvider.OPEN_AI_RESPONSES)
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    image = {"type": "input_image", "detail": "auto", "image_url": f"data:image/png;base64,{PNG}"}
    audio = NOT_SHOWN_WAV.format(why="the Responses API takes no audio in a tool result")
    assert outputs == [
        {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "chart: sales"},
                                                                     image]},
        {"type": "function_call_output", "call_id": "c2", "output": [image]},
        {"type": "function_call_output", "call_id": "c3", "output": [{"type": "input_text", "text": audio}]},
    ]


def test_chat_completions_names_the_files_in_the_text_it_alone_takes(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    chart_picture_sound(agent)
    why = "OpenAI Chat Completions takes only text in a tool result"
    with pytest.warns(LossyRenderingWarning, match="takes only text in a tool result"):
        messages = agent.get_messages(LLMProvider.OPEN_AI)
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "c1", "content": "chart: sales\n" + NOT_SHOWN_PNG.format(why=why)},
        {"role": "tool", "tool_call_id": "c2", "content": NOT_SHOWN_PNG.format(why=why)},
        {"role": "tool", "tool_call_id": "c3", "content": NOT_SHOWN_WAV.format(why=why)},
    ]


def test_the_files_are_stored_with_the_thread_and_read_back(server: MCPServerStdio, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "files.db")
    agent = Agent("a", tools=[server], store=store)
    chart_picture_sound(agent)
    thread_id = agent.retrieve_execution_result().thread_id
    (chart, picture, sound) = SQLiteStore(tmp_path / "files.db").get_messages(thread_id)[-1].tool_results
    assert (chart.content, chart.files, picture.files) == ("chart: sales", (IMAGE,), (IMAGE,))
    assert sound.files == (FilePart(media_type="audio/wav", data=WAV),)


def test_a_tool_result_with_images_read_from_a_provider_keeps_them() -> None:
    """A thread handed in in Anthropic's or the Responses API's format keeps the tool's images."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    anthropic = Agent("a", llm_provider=LLMProvider.ANTHROPIC, store=InMemoryStore())
    anthropic.add_task("Draw.")
    anthropic.add_messages([
        {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "chart", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1",
                                      "content": [{"type": "text", "text": "chart: sales"}, image]}]}])
    responses = Agent("r", llm_provider=LLMProvider.OPEN_AI_RESPONSES, store=InMemoryStore())
    responses.add_task("Draw.")
    responses.add_messages([
        {"type": "function_call", "call_id": "c1", "name": "chart", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [
            {"type": "input_text", "text": "chart: sales"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}]}])
    for agent in (anthropic, responses):
        (result,) = agent.thread[-1].tool_results
        assert (result.content, result.files) == ("chart: sales", (IMAGE,))
    handed = responses.get_messages(LLMProvider.ANTHROPIC)[-1]["content"][0]  # and on to Anthropic as an image
    assert handed["content"] == [{"type": "text", "text": "chart: sales"}, image]
