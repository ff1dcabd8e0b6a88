"""Record and replay provider HTTP traffic with vcrpy, secret-free by construction.

- Headers are kept by an allow-list (never a block-list): keys, organisation and project ids can
  not slip through because nothing unlisted is ever written.
- JSON bodies are stored parsed, so a cassette reads like the API's documentation and diffs well.
- Requests match on method, URL and the parsed JSON body; a replay that leaves interactions unplayed
  fails, so a cassette cannot silently go stale.
- A request with no recording fails with `CassetteError` naming the method and URL and showing a
  diff of its JSON body against the nearest recorded request (the most similar body among those
  with the same method and path), which is usually the one change to look at.
- While a cassette replays, loopline's model objects may send (their requests go to the cassette);
  while one records, real requests are allowed on purpose.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError, RuntimeFailure
from ..providers import _guard
from ._blocking import sdk_transparent

__all__ = ["CassetteError", "REQUEST_HEADERS", "RESPONSE_HEADERS", "check_all_played", "open_cassette",
           "use_cassette"]

REQUEST_HEADERS = frozenset({"content-type", "accept", "anthropic-version", "anthropic-beta", "openai-beta"})
"""The only request headers a cassette keeps."""

RESPONSE_HEADERS = frozenset({"content-type", "openai-version", "openai-processing-ms", "request-id",
                              "x-request-id", "retry-after", "x-should-retry", "anthropic-version"})
"""The only response headers a cassette keeps."""

_NOTE_KEY = "loopline"


class CassetteError(RuntimeFailure, AssertionError):
    """A replay did not match its cassette (an unplayed interaction, a request with no recording)."""


@contextlib.contextmanager
def use_cassette(path: str | Path, *, record: bool = False, note: str | None = None) -> Iterator[Any]:
    """Replay (or, with `record=True`, record anew) the HTTP traffic inside the block.

    Args:
        path: The cassette file (YAML).
        record: Record every request afresh, replacing the file; otherwise replay only and fail on
            any request that has no recording, and on leaving with recordings never played.
        note: When recording, a sentence stored in the cassette saying how it was made.
    """
    with open_cassette(path, record=record, note=note) as cassette:
        yield cassette
        if not record:
            check_all_played(cassette)


@contextlib.contextmanager
def open_cassette(path: str | Path, *, record: bool = False, note: str | None = None) -> Iterator[Any]:
    """`use_cassette` without the check for unplayed interactions on leaving (`check_all_played` does it)."""
    vcr = _vcr()
    path = Path(path)
    if record and path.exists():
        path.unlink()
    if not record and not path.exists():
        raise CassetteError(f"cassette {path} does not exist; record it first (with loopline's pytest plugin: "
                            "run pytest --record with OPENAI_API_KEY or ANTHROPIC_API_KEY set)")
    recorder = vcr.VCR(
        record_mode="all" if record else "none",
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_serializer("loopline-json-body", _Serializer)
    recorder.register_matcher("json_body", _match_json_body)
    config = recorder.get_merged_config(path=str(path), serializer="loopline-json-body")
    guard = _guard.overriding(False) if record else _guard.replaying()
    with guard, _cassette_class(vcr).use(**config) as cassette:
        if record and note:
            cassette.get_metadata(_NOTE_KEY, {"note": note})
        yield cassette


def check_all_played(cassette: Any) -> None:
    """Raise `CassetteError` if the replayed cassette holds interactions that were never played."""
    if not cassette.all_played:
        unplayed = len(cassette.data) - cassette.play_count
        raise CassetteError(f"cassette {cassette._path}: {unplayed} recorded interaction(s) were never played; "
                            "the code under test made fewer requests than were recorded")


def _vcr() -> Any:
    try:
        import vcr
        import vcr.cassette
        import vcr.errors
    except ImportError as exc:
        raise MissingExtraError(package="vcrpy", extra="testing") from exc
    return vcr


@functools.cache
def _cassette_class(vcr: Any) -> Any:
    """vcrpy's cassette, failing a request that has no recording with loopline's error instead of its own."""

    class Cassette(vcr.cassette.Cassette):  # type: ignore[misc]
        def can_play_response_for(self, request: Any) -> Any:
            __tracebackhide__ = True
            playable = super().can_play_response_for(request)
            if not playable and self.write_protected and self.filter_request(request):
                raise _no_recording(self, request)
            return playable

    return Cassette


@functools.cache
def _no_recording_class(vcr: Any) -> type[CassetteError]:
    """`CassetteError` that is also vcrpy's `CannotOverwriteExistingCassetteException`, so code that
    catches vcrpy's error still does."""

    def __init__(self: Any, message: str, *, cassette: Any, failed_request: Any) -> None:
        Exception.__init__(self, message)
        self.cassette, self.failed_request = cassette, failed_request
        self.similar_requests, self.reason = [], "no_match"

    bases = (CassetteError, vcr.errors.CannotOverwriteExistingCassetteException)
    made: type[CassetteError] = type("CassetteError", bases, {"__init__": __init__, "__module__": __name__,
                                                              "__doc__": CassetteError.__doc__})
    return made


def _no_recording(cassette: Any, request: Any) -> CassetteError:
    cls = sdk_transparent(_no_recording_class(_vcr()))
    message = f"no recording in {cassette._path} for {request.method} {request.uri}\n" + _nearest(cassette, request)
    return cls(message, cassette=cassette, failed_request=request)  # type: ignore[call-arg]


def _nearest(cassette: Any, request: Any) -> str:
    """What is recorded nearest to `request`: a diff against the most similar body of the same method and path."""
    same = [(n, r) for n, r in enumerate(cassette.requests) if r.method == request.method and r.path == request.path]
    if not same:
        held = ", ".join(sorted({f"{r.method} {r.path}" for r in cassette.requests})) or "nothing"
        return f"nothing is recorded for {request.method} {request.path}; the cassette holds: {held}"
    sent = _lines(request.body)
    index, nearest = max(same, key=lambda item: _similarity(_lines(item[1].body), sent))
    played = "already played" if cassette.play_counts[index] else "not played yet"
    diff = "\n".join(difflib.unified_diff(_lines(nearest.body), sent, "recorded", "sent", lineterm="", n=3))
    where = f"interaction {index + 1} of {len(cassette.data)}, {played}"
    if not diff:
        return (f"the same request is recorded ({where}): the code made it more often than when the cassette "
                "was recorded")
    kind = "JSON request bodies differ" if _json_or_none(request.body) is not None else "request bodies differ"
    return (f"{kind} from the nearest recorded request ({where}):\n{diff}\n"
            "if the new request is intended, record the cassette again")


def _similarity(recorded: list[str], sent: list[str]) -> tuple[float, float]:
    """How alike two bodies are: by the lines they share, then by the characters of the lines that differ."""
    matcher = difflib.SequenceMatcher(None, recorded, sent, autojunk=False)
    changed = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    removed = "\n".join(line for _, i1, i2, _, _ in changed for line in recorded[i1:i2])
    added = "\n".join(line for _, _, _, j1, j2 in changed for line in sent[j1:j2])
    return matcher.ratio(), difflib.SequenceMatcher(None, removed, added, autojunk=False).ratio()


def _lines(body: Any) -> list[str]:
    parsed = _json_or_none(body)
    if parsed is None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        return text.splitlines()
    return json.dumps(parsed, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def _scrub_request(request: Any) -> Any:
    request.headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() in RESPONSE_HEADERS}
    return response


def _json_or_none(body: Any) -> Any:
    if body is None or body in (b"", ""):
        return None
    try:
        return json.loads(body)
    except (ValueError, TypeError):
        return None


def _match_json_body(r1: Any, r2: Any) -> None:
    a, b = _json_or_none(r1.body), _json_or_none(r2.body)
    if a is None and b is None:
        if (r1.body or b"") != (r2.body or b""):
            raise AssertionError("request bodies differ")
        return
    if a != b:
        raise AssertionError("JSON request bodies differ:\n" + _diff(b, a))


def _diff(recorded: Any, sent: Any) -> str:
    left = json.dumps(recorded, indent=1, sort_keys=True).splitlines()
    right = json.dumps(sent, indent=1, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(left, right, "recorded", "sent", lineterm="", n=2))


class _Serializer:
    """YAML cassettes whose JSON bodies are stored parsed (`json:`) instead of as one long string."""

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        import yaml

        for item in cassette["interactions"]:
            _store_body(item["request"], "body")
            _store_body(item["response"], "body")
        return str(yaml.safe_dump(cassette, sort_keys=False, allow_unicode=True, width=120))

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        import yaml

        cassette: dict[str, Any] = yaml.safe_load(text)
        for item in cassette["interactions"]:
            _load_body(item["request"], "body")
            _load_body(item["response"], "body")
        return cassette


def _store_body(holder: dict[str, Any], key: str) -> None:
    body = holder.get(key)
    text = body.get("string") if isinstance(body, dict) else body
    parsed = _json_or_none(text)
    if parsed is not None and isinstance(parsed, (dict, list)):
        holder[key] = {"json": parsed}


def _load_body(holder: dict[str, Any], key: str) -> None:
    body = holder.get(key)
    if isinstance(body, dict) and "json" in body:
        text = json.dumps(body["json"], ensure_ascii=False)
        holder[key] = text if "method" in holder else {"string": text}
