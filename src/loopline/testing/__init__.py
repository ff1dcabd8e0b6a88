"""The testing layer: public test doubles and cassette helpers for users' own tests.

Nothing below imports it. Needs the `testing` extra (vcrpy) for cassettes.
"""

from ._cassette import REQUEST_HEADERS, RESPONSE_HEADERS, CassetteError, use_cassette

__all__ = ["CassetteError", "REQUEST_HEADERS", "RESPONSE_HEADERS", "use_cassette"]
