"""Record and replay provider HTTP traffic with vcrpy, secret-free by construction.

- Headers and URL query parameters are kept by an allow-list (never a block-list), and a URL's
  user-info is dropped: keys, organisation and project ids can not slip through because nothing
  unlisted is ever written. Requests match on the same filtered URL.
- JSON bodies are stored parsed, so a cassette reads like the API's documentation and diffs well.
- Requests match on method, URL and the parsed JSON body; a replay that leaves interactions unplayed
  fails, so a cassette cannot silently go stale.
- A request with no recording fails with `CassetteError` naming the method and URL and showing a
  diff of its JSON body against the nearest recorded request (the most similar body among those
  with the same method and path), which is usually the one change to look at.
- While a cassette replays, loopline's model objects may send (their requests go to the cassette);
  while one records, real requests are allowed on purpose.
- Recording writes a file beside the cassette and replaces the cassette with it only when the block
  ends cleanly, so a failed re-record keeps the good cassette. A failed request the client retried
  (a 429 or 5xx followed by the same request) is left out, so a replay does not wait out its
  `retry-after` again.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import MissingExtraError, RuntimeFailure
from ..providers import request_guard
from ._blocking import sdk_transparent

__all__ = ["CassetteError", "QUERY_PARAMETERS", "REQUEST_HEADERS", "RESPONSE_HEADERS", "check_all_played",
           "discard_recording", "open_cassette", "scrub_uri", "use_cassette"]

REQUEST_HEADERS = frozenset({"content-type", "accept", "anthropic-version", "anthropic-beta", "openai-beta"})
"""The only request headers a cassette keeps."""

RESPONSE_HEADERS = frozenset({"content-type", "openai-version", "openai-processing-ms", "request-id",
                              "x-request-id", "retry-after", "x-should-retry", "anthropic-version"})
"""The only response headers a cassette keeps."""

QUERY_PARAMETERS = frozenset({"api-version", "alt", "beta"})
"""The only URL query parameters a cassette keeps (Azure's `api-version`, Gemini's `alt=sse`,
Anthropic's `beta`); any other (an `api-key`, a `key`, a signature) is dropped before recording."""

_NOTE_KEY = "loopline"
_KEEP = "_loopline_keep"
_RETRIED = frozenset({408, 409, 429})


class CassetteError(RuntimeFailure, AssertionError):
    """A replay did not match its cassette (an unplayed interaction, a request with no recording)."""


@contextlib.contextmanager
def use_cassette(path: str | Path, *, record: bool = False, note: str | None = None) -> Iterator[Any]:
    """Replay (or, with `record=True`, record anew) the HTTP traffic inside the block.

    Args:
        path: The cassette file (YAML).
        record: Record every request afresh, replacing the file when the block ends without an
            exception (an exception keeps the file as it was); otherwise replay only and fail on
            any request that has no recording, and on leaving with recordings never played.
        note: When recording, a sentence stored in the cassette saying how it was made.
    """
    with open_cassette(path, record=record, note=note) as cassette:
        yield cassette
        if not record:
            check_all_played(cassette)


@contextlib.contextmanager
def open_cassette(path: str | Path, *, record: bool = False, note: str | None = None) -> Iterator[Any]:
    """`use_cassette` without the check for unplayed interactions on leaving (`check_all_played` does it).

    A recording goes to a file beside `path`, which replaces `path` when the block ends without an
    exception and unless `discard_recording(cassette)` was called; otherwise it is deleted.
    """
    vcr = _vcr()
    path = Path(path)
    if not record and not path.exists():
        raise CassetteError(f"cassette {path} does not exist; record it first (with loopline's pytest plugin: "
                            "run pytest --record, or --loopline-record, with OPENAI_API_KEY or ANTHROPIC_API_KEY set)")
    target = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.recording") if record else path
    recorder = vcr.VCR(
        record_mode="all" if record else "none",
        match_on=("method", "scheme", "host", "port", "path", "query", "json_body"),
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    recorder.register_serializer("loopline-json-body", _Serializer)
    recorder.register_matcher("json_body", _match_json_body)
    config = recorder.get_merged_config(path=str(target), serializer="loopline-json-body")
    guard = request_guard.overriding(False) if record else request_guard.replaying()
    try:
        with guard, _cassette_class(vcr).use(**config) as cassette:
            if record and note:
                cassette.get_metadata(_NOTE_KEY, {"note": note})
            yield cassette
    except BaseException:
        if record:
            target.unlink(missing_ok=True)
        raise
    if record:
        _finish_recording(cassette, target, path)


def discard_recording(cassette: Any) -> None:
    """Keep the cassette file as it was when this recording ends (the pytest plugin calls it when the
    test failed): what was recorded is thrown away."""
    setattr(cassette, _KEEP, False)


def _finish_recording(cassette: Any, recorded: Path, path: Path) -> None:
    if not getattr(cassette, _KEEP, True):
        recorded.unlink(missing_ok=True)
    elif recorded.exists():
        os.replace(recorded, path)
    else:  # nothing was sent: no recording is the recording
        path.unlink(missing_ok=True)


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
    message = (f"no recording in {cassette._path} for {request.method} {scrub_uri(request.uri)}\n"
               + _nearest(cassette, request))
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
    request.uri = scrub_uri(request.uri)
    return request


def scrub_uri(uri: str) -> str:
    """`uri` without user-info and fragment, and with only the query parameters in `QUERY_PARAMETERS`."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in QUERY_PARAMETERS]
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, urlencode(query), ""))


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

        cassette["interactions"] = _drop_retried(cassette["interactions"])
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


def _drop_retried(interactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The interactions without the failures the client retried: a 408/409/429/5xx answer followed by
    the same request that then got another answer. A failure that was the last word is kept (the
    code under test saw it), and so are the retries before it."""
    kept: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []  # retryable failures of the request being retried
    for item in interactions:
        if failures and not _same_request(failures[-1], item):
            kept.extend(failures)
            failures = []
        if _retryable(item):
            failures.append(item)
        else:
            failures = []  # retried into this answer: the failures before it are left out
            kept.append(item)
    return kept + failures


def _same_request(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a["request"].get(key) == b["request"].get(key) for key in ("method", "uri", "body"))


def _retryable(item: dict[str, Any]) -> bool:
    status = item["response"].get("status") or {}
    code = status.get("code") if isinstance(status, dict) else None
    return isinstance(code, int) and (code in _RETRIED or code >= 500)
