"""Parse an ``http_request`` tool call into one normalised ``HttpRequest``.

Input: ``{"method": str, "url": str, "headers"?: {str: str}, "body"?: str}`` (a JSON
null stands for an absent optional field). The method is upper-cased and must be letters;
the URL is normalised by ``infraagent.guardrails.urls`` (scheme and host lower-cased, IP
literals in any spelling made canonical, default port filled in, unreserved escapes
decoded and dot segments removed from the path, query kept as written, fragment dropped);
header names are lower-cased. Anything else fails closed with
``ParseError('parse/invalid-input')``: unknown or mistyped fields, a URL without a host,
credentials in the URL, header names that are not tokens, header values with line breaks,
and headers that the client or the environment must set itself (``host``, framing and
connection headers, ``authorization``: credentials are injected by the environment).

Whether the request may be sent is not decided here (see ``guardrails.http_rules``). The
executor must send the normalised request (``HttpRequest.url``), never the raw input, so
that what was judged is what goes on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from infraagent.guardrails.urls import split_url
from infraagent.models.requests import HttpRequest, ParseError

_FIELDS: Final = frozenset({"method", "url", "headers", "body"})
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_METHODS: Final = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_HEADER_VALUE_FORBIDDEN: Final = re.compile(r"[\x00\r\n]")
_MAX_HEADERS: Final = 64
_CLIENT_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
    | {"te", "trailer", "proxy-connection", "expect"}
)
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})


def _invalid(reason: str) -> ParseError:
    return ParseError("parse/invalid-input", reason)


def parse_http(tool_input: Mapping[str, Any]) -> HttpRequest:
    """The ``HttpRequest`` an ``http_request`` call would send; ``ParseError`` if refused."""
    if not isinstance(tool_input, Mapping):
        raise _invalid("the http_request input must be a JSON object")
    unknown = sorted(str(key) for key in tool_input if key not in _FIELDS)
    if unknown:
        raise _invalid(f"http_request takes no input field {unknown[0]!r}")
    method, url = tool_input.get("method"), tool_input.get("url")
    if not isinstance(method, str) or not isinstance(url, str):
        raise _invalid("http_request needs 'method' and 'url' as strings")
    method = method.upper()
    if method not in _METHODS:
        raise _invalid(f"the HTTP method {method[:40]!r} is not one of {', '.join(_METHODS)}")
    scheme = _SCHEME.match(url)
    if scheme is not None and scheme.group(1).lower() not in ("http", "https"):
        raise ParseError("http/scheme", f"{url[:80]!r}: only http and https URLs are allowed")
    body = tool_input.get("body")
    if body is not None and not isinstance(body, str):
        raise _invalid("the http_request 'body' must be a string")
    parts = split_url(url)
    return HttpRequest(
        method=method,
        scheme=parts.scheme,
        host=parts.host,
        port=parts.port,
        path=parts.path,
        query=parts.query,
        headers=_headers(tool_input.get("headers")),
        body=body,
    )


def _headers(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _invalid("the http_request 'headers' must be an object of strings")
    if len(raw) > _MAX_HEADERS:
        raise _invalid(f"an HTTP request may carry at most {_MAX_HEADERS} headers")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise _invalid("the http_request 'headers' must be an object of strings")
        if not _HEADER_NAME.fullmatch(name):
            raise _invalid(f"{name[:64]!r} is not a valid HTTP header name")
        if _HEADER_VALUE_FORBIDDEN.search(value):
            raise _invalid(f"the value of header {name!r} contains a line break or NUL")
        key = name.lower()
        if key in _CREDENTIAL_HEADERS:
            raise _invalid(
                f"the {key} header is not accepted: credentials are injected by the "
                "environment, never written by the agent"
            )
        if key in _CLIENT_HEADERS:
            raise _invalid(f"the {key} header is set by the HTTP client from the URL and body")
        if key in headers:
            raise _invalid(f"the header {key!r} is given twice")
        headers[key] = value
    return headers
