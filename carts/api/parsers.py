"""The API's JSON parser: DRF's, refusing deep nesting before it parses.

Python's json module recurses once per nested array or object, so a small
body nesting a thousand of them raises RecursionError (a 500) inside the
parser. No request of the API nests more than three levels; the depth is
counted on the raw bytes first, skipping strings, and a body deeper than
MAX_NESTING is a 400 `parse_error` (the code the OpenAPI document already
declares for a body that is not JSON) that never reaches the decoder.
"""

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_NESTING = 32  # arrays and objects inside each other

# A JSON string (skipped whole, so brackets in it do not count) or a bracket.
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class NestingTooDeep(ParseError):
    default_detail = f"JSON parse error - nested deeper than {MAX_NESTING} levels."


def check_nesting(body: bytes) -> None:
    """Raise NestingTooDeep when arrays and objects nest beyond MAX_NESTING."""
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING:
        return  # every body the API expects: no scan
    depth = 0
    for token in _STRING_OR_BRACKET.finditer(body):
        bracket = token[0]
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING:
                raise NestingTooDeep()
        elif bracket in (b"]", b"}"):
            depth -= 1


class DepthLimitedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        # DRF hands a stream; the body is at most DATA_UPLOAD_MAX_MEMORY_SIZE.
        body = stream.read() if stream is not None else b""
        check_nesting(body)
        return super().parse(io.BytesIO(body), media_type, parser_context)
