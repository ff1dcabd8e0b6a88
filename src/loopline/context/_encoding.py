"""Tokenizers, loaded once per process and per name, and never by a download that can hang.

`tiktoken` fetches its BPE files over the network on first use (then caches them). A machine
without network would hang or fail there, so an encoding is made, in this order, from:

1. tiktoken's own in-process registry, when something already loaded it;
2. the BPE data the `bpe-openai` package ships (`pip install 'loopline[tokens]'`): the same ranks as
   tiktoken's files (their SHA-256 is checked against the hashes tiktoken itself expects), turned
   into a real `tiktoken.Encoding` with the split pattern and special tokens of `tiktoken_ext`;
3. `tiktoken.get_encoding`, which reads tiktoken's cache or downloads; it runs in a helper thread
   that is waited for at most `LOOPLINE_TIKTOKEN_TIMEOUT` seconds (default 10), so a dead network
   costs seconds, not a hang (the thread is left to finish and fill tiktoken's cache);
4. an approximate counter (about 4 characters a token, see `ApproximateEncoder`), with a one-time
   `ApproximateTokenCountWarning` that says how to get exact counts.

This module must never be imported for its side effects: nothing is loaded until asked for.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import os
import string
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import tiktoken
import tiktoken.registry

__all__ = [
    "ApproximateEncoder",
    "ApproximateTokenCountWarning",
    "Encoder",
    "TiktokenEncoder",
    "get_encoder",
    "load_bpe_openai",
]

TIMEOUT_ENV = "LOOPLINE_TIKTOKEN_TIMEOUT"
DEFAULT_TIMEOUT = 10.0

# The split patterns and special tokens of the two encodings, as tiktoken_ext/openai_public.py defines them.
_CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                   r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
_O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
_SPECS: dict[str, tuple[str, dict[str, int], str]] = {
    # name: (split pattern, special tokens, SHA-256 of the uncompressed .tiktoken file)
    "cl100k_base": (_CL100K_PATTERN,
                    {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                     "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": (_O200K_PATTERN, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}


class ApproximateTokenCountWarning(UserWarning):
    """Token counts are estimates from text length because no tokenizer data could be loaded."""


class Encoder(Protocol):
    """What the counter needs of a tokenizer: a count, and a cut that keeps a head and a tail."""

    @property
    def name(self) -> str:
        """The encoding's name, such as `o200k_base`."""
        ...

    @property
    def exact(self) -> bool:
        """Whether counts are the tokenizer's own (False: estimated from length)."""
        ...

    def count(self, text: str) -> int:
        """Tokens in `text` (special-token strings count as ordinary text)."""
        ...

    def cut_middle(self, text: str, keep: int) -> tuple[str, str, int]:
        """The first and last parts of `text` that together hold about `keep` tokens (head a little
        longer than tail), and how many tokens were left out between them."""
        ...


class TiktokenEncoder:
    """An exact encoder over a `tiktoken.Encoding`."""

    __slots__ = ("_encoding",)

    exact = True

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self._encoding = encoding

    @property
    def name(self) -> str:
        """The encoding's name."""
        return self._encoding.name

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The tiktoken encoding itself."""
        return self._encoding

    def count(self, text: str) -> int:
        """Exact token count (`encode_ordinary`: special-token text is just text here)."""
        return len(self._encoding.encode_ordinary(text)) if text else 0

    def cut_middle(self, text: str, keep: int) -> tuple[str, str, int]:
        """Head and tail cut at token boundaries; a character split by the cut is dropped whole."""
        tokens = self._encoding.encode_ordinary(text)
        if len(tokens) <= keep:
            return text, "", 0
        head_n = (keep * 3 + 4) // 5  # three fifths for the head: tool outputs usually lead with what matters
        tail_n = keep - head_n
        head = self._encoding.decode_bytes(tokens[:head_n]).decode("utf-8", errors="ignore")
        tail = self._encoding.decode_bytes(tokens[len(tokens) - tail_n:]).decode("utf-8", errors="ignore")
        return head, tail if tail_n else "", len(tokens) - head_n - tail_n


class ApproximateEncoder:
    """Counts from length when no tokenizer is available: about 4 characters a token, rounded up.

    The count is the text's UTF-8 bytes plus its ASCII punctuation, over 4, raised by a tenth. ASCII
    prose runs about 4.5 characters a token in o200k/cl100k; punctuation is mostly a token of its own
    (dense in code and JSON), so it counts double; a byte count charges other scripts more per
    character, roughly as those tokenizers do (accented Latin and Cyrillic about half a token a
    character, CJK three quarters). The extra tenth makes the estimate err toward more tokens: on
    prose, code, JSON and the recorded requests it lands between 0.8 and 1.7 times the real count,
    so fitting leaves room rather than overflowing. Text that tokenizes unusually badly (base64,
    hex, long digit runs, emoji) is undercounted by up to 60%.
    """

    __slots__ = ("_name",)

    exact = False

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        """The name of the encoding this approximates."""
        return self._name

    def count(self, text: str) -> int:
        """Estimated tokens: (UTF-8 bytes + ASCII punctuation) / 4 * 1.1, rounded up."""
        if not text:
            return 0
        size = len(text.encode("utf-8", errors="replace")) + len(text) - len(text.translate(_NO_PUNCTUATION))
        return -(-size * 11 // 40)  # ceil(size / 4 * 1.1), in integers

    def cut_middle(self, text: str, keep: int) -> tuple[str, str, int]:
        """Head and tail cut by characters, in proportion to the estimated tokens."""
        total = self.count(text)
        if total <= keep:
            return text, "", 0
        chars = max(1, len(text) * keep // total)
        head_chars = (chars * 3 + 4) // 5
        tail_chars = chars - head_chars
        head, tail = text[:head_chars], text[len(text) - tail_chars:] if tail_chars else ""
        return head, tail, max(0, total - self.count(head) - self.count(tail))


_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
_lock = threading.Lock()
_cache: dict[str, Encoder] = {}
_warned: set[str] = set()


def get_encoder(name: str) -> Encoder:
    """The encoder for an encoding name, made once per process (thread-safe); see the module doc.

    Raises:
        ValueError: `name` is not an encoding tiktoken knows.
    """
    found = _cache.get(name)
    if found is not None:
        return found
    with _lock:
        found = _cache.get(name)
        if found is None:
            found = _load(name)
            _cache[name] = found
        return found


def _load(name: str) -> Encoder:
    if name not in tiktoken.registry.list_encoding_names():
        known = ", ".join(tiktoken.registry.list_encoding_names())
        raise ValueError(f"unknown token encoding {name!r}; known: {known}")
    loaded = tiktoken.registry.ENCODINGS.get(name) or load_bpe_openai(name)
    if loaded is None:
        loaded, why = _tiktoken_with_timeout(name, _timeout())
        if loaded is None:
            _warn_once(name, why)
            return ApproximateEncoder(name)
    return TiktokenEncoder(loaded)


def _bpe_openai_file(name: str) -> Path | None:
    """Where bpe-openai keeps the data of `name`, found without importing it (it loads a native library)."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"
    return path if path.is_file() else None


def load_bpe_openai(name: str) -> tiktoken.Encoding | None:
    """A `tiktoken.Encoding` built from the BPE ranks bpe-openai ships, or `None` when it is not
    installed, lacks this encoding, or its data does not match the file tiktoken would download."""
    spec = _SPECS.get(name)
    path = _bpe_openai_file(name)
    if spec is None or path is None:
        return None
    pattern, special, digest = spec
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError):
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        return None
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def _timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None


_Loaded = tuple[tiktoken.Encoding | None, str]


def _tiktoken_with_timeout(name: str, timeout: float, get: Callable[[str], tiktoken.Encoding] | None = None) -> _Loaded:
    """`tiktoken.get_encoding(name)` if it returns within `timeout` seconds, else `None` and why not."""
    get = get or tiktoken.get_encoding
    result: list[tiktoken.Encoding] = []
    error: list[BaseException] = []

    def load() -> None:
        try:
            result.append(get(name))
        except Exception as exc:  # any failure (no network, no requests, bad cache) means: approximate
            error.append(exc)

    thread = threading.Thread(target=load, name=f"loopline-tiktoken-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if result:
        return result[0], ""
    if error:
        return None, f"tiktoken could not load it ({type(error[0]).__name__}: {error[0]})"
    return None, f"tiktoken did not load it within {timeout:g} s (set {TIMEOUT_ENV} to wait longer)"


def _warn_once(name: str, why: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    warnings.warn(ApproximateTokenCountWarning(
        f"token counts for {name} are estimates (about 4 characters a token): {why}. For exact counts "
        "install the offline tokenizer data with: pip install 'loopline[tokens]', or let tiktoken download "
        "its files once (it caches them)"), stacklevel=5)
