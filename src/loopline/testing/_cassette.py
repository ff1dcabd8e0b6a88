"""Record and replay provider HTTP traffic with vcrpy, secret-free by construction.

- Headers are kept by an allow-list (never a block-list): keys, organisation and project ids can
  not slip through because nothing unlisted is ever written.
- JSON bodies are stored parsed, so a cassette reads like the API's documentation and diffs well.
- Requests match on method, URL and the parsed JSON body; a replay that leaves interactions unplayed
  fails, so a cassette cannot silently go stale.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError, RuntimeFailure

__all__ = ["CassetteError", "REQUEST_HEADERS", "RESPONSE_HEADERS", "use_cassette"]

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
            any request that has no recording.
        note: When recording, a sentence stored in the cassette saying how it was made.
    """
    try:
        import vcr
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError(package="vcrpy", extra="testing") from exc
    path = Path(path)
    if record and path.exists():
        path.unlink()
    if not record and not path.exists():
        raise CassetteError(f"cassette {path} does not exist; record it first")
    recorder = vcr.VCR(
        record_mode="all" if record else "none",
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_serializer("loopline-json-body", _Serializer)
    recorder.register_matcher("json_body", _match_json_body)
    with recorder.use_cassette(str(path), serializer="loopline-json-body") as cassette:
        if record and note:
            cassette.get_metadata(_NOTE_KEY, {"note": note})
        yield cassette
        if not record and not cassette.all_played:
            unplayed = len(cassette.data) - cassette.play_count
            raise CassetteError(f"cassette {path}: {unplayed} recorded interaction(s) were never played; "
                                "the code under test made fewer requests than were recorded")


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
    import difflib

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
