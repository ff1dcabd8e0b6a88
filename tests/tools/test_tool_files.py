"""A tool that returns a `FilePart` (alone, or in a list beside text) gives the model a file in its tool
result, not the file's JSON; every other return value is text as before."""

from __future__ import annotations

from loopline import Agent, FilePart, InMemoryStore, LLMProvider, tool
from loopline.testing import ScriptedModel, call, reply
from tool_helpers import run_one

PNG = FilePart(media_type="image/png", data="iVBORw0KGgo=")


@tool
def plot(title: str) -> list[str | FilePart]:
    """A caption and a picture."""
    return [f"plot of {title}", PNG]


@tool
def photo() -> FilePart:
    """A picture alone."""
    return PNG


@tool
def numbers() -> list[int]:
    """No files."""
    return [1, 2]


def test_files_are_split_from_the_text_of_a_tool_result() -> None:
    captioned, alone, plain = run_one(plot, {"title": "sales"}), run_one(photo, {}), run_one(numbers, {})
    assert (captioned.content, captioned.files, captioned.result) == ("plot of sales", (PNG,), ["plot of sales", PNG])
    assert (alone.content, alone.files) == ("", (PNG,))
    assert (plain.content, plain.files) == ("[1,2]", None)


def test_a_local_tools_image_reaches_the_model_as_an_image() -> None:
    agent = Agent("a", tools=[plot], llm_provider=LLMProvider.ANTHROPIC, store=InMemoryStore())
    model = ScriptedModel([reply(call("plot", title="sales")), reply("done")], provider=LLMProvider.ANTHROPIC)
    assert agent.run("Plot.", model=model).ok
    (block,) = model.requests[1]["messages"][-1]["content"]
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    assert block == {"type": "tool_result", "tool_use_id": block["tool_use_id"], "is_error": False,
                     "content": [{"type": "text", "text": "plot of sales"}, image]}
