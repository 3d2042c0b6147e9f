"""URL normalisation: one canonical spelling for every way of writing the same target.

``split_url`` turns a URL into (scheme, host, port, path, query) the way an HTTP client
would reach it, and fails closed with ``ParseError('parse/invalid-input')`` on anything
ambiguous: credentials in the URL, control characters, spaces or backslashes (parsers
disagree on those), an invalid port or host. Hosts are lower-cased, percent-decoded,
IDNA-encoded and lose a trailing dot; IP literals in any spelling (``2130706433``,
``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``, zone ids) become their
canonical text. Paths keep only the percent-escapes that matter and lose dot segments.

Used by the HTTP parser (``infraagent.tools.http``) and by the policy builder for declared
endpoints, so both sides compare the same spelling. Deciding whether a target is allowed is
not done here (see ``http_rules``).
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final, NamedTuple
from urllib.parse import quote, unquote, urlsplit

from infraagent.models.requests import ParseError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

INVALID: Final = "parse/invalid-input"
DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
"""Default ports by scheme; a scheme not listed gets port 0 when none is written."""

_MAX_URL: Final = 8192
_MAX_HOST: Final = 253
_UNSAFE: Final = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_NUMERIC_LABEL: Final = re.compile(r"0x[0-9a-f]*|[0-9]+")
_LABEL: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_ESCAPE: Final = re.compile(r"%(?:([0-9A-Fa-f]{2})|)")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE: Final = "/!$&'()*+,;=:@%-._~"


class UrlParts(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str
    query: str


def _invalid(reason: str) -> ParseError:
    return ParseError(INVALID, reason)


def split_url(url: str) -> UrlParts:
    """The canonical parts of ``url``; ``ParseError`` when it is not a usable URL."""
    if not url or len(url) > _MAX_URL:
        raise _invalid("the URL is empty or longer than 8192 characters")
    if _UNSAFE.search(url):
        raise _invalid("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise _invalid(f"the URL cannot be parsed: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise _invalid("the URL has no scheme (write http:// or https://)")
    if not parts.netloc:
        raise _invalid("the URL has no host")
    if "@" in parts.netloc:
        raise _invalid(
            "the URL carries credentials (user:password@); credentials are injected by the "
            "environment, never written in URLs"
        )
    host_text, port_text = _split_netloc(parts.netloc)
    host = normalise_host(host_text)
    return UrlParts(scheme, host, _port(port_text, scheme), normalise_path(parts.path), parts.query)


def _split_netloc(netloc: str) -> tuple[str, str]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise _invalid("the URL's IPv6 address has no closing bracket")
        rest = netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _invalid("the URL has text after its IPv6 address")
        return netloc[: end + 1], rest[1:]
    host, _, port = netloc.partition(":")
    return host, port


def _port(text: str, scheme: str) -> int:
    if not text:
        return DEFAULT_PORTS.get(scheme, 0)
    if not _PORT.fullmatch(text) or not 0 < int(text) <= 65535:
        raise _invalid(f"the URL's port {text!r} is not a number from 1 to 65535")
    return int(text)


@lru_cache(maxsize=4096)
def normalise_host(text: str) -> str:
    """The canonical host: lower case, no trailing dot, IDNA, IP literals canonical."""
    if text.startswith("["):
        return _ipv6_literal(text)
    try:
        host = unquote(text, errors="strict") if "%" in text else text
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid(f"the host {text!r} is not a valid domain name") from None
    host = host.lower()
    host = host.removesuffix(".")
    if not host or len(host) > _MAX_HOST:
        raise _invalid("the URL's host is empty or too long")
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return str(_legacy_ipv4(labels, text))
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise _invalid(f"the host {text!r} is not a valid domain name")
    return host


def _ipv6_literal(text: str) -> str:
    if not text.endswith("]"):
        raise _invalid(f"the host {text!r} is not a valid IPv6 address")
    inner = text[1:-1].split("%", 1)[0]  # a zone id (%25eth0) never leaves the machine
    try:
        address = ipaddress.IPv6Address(inner)
    except ValueError:
        raise _invalid(f"the host {text!r} is not a valid IPv6 address") from None
    return ipv6_text(address)


def ipv6_text(address: ipaddress.IPv6Address) -> str:
    """Canonical text of an IPv6 address; IPv4-mapped ones as ``::ffff:a.b.c.d``."""
    mapped = address.ipv4_mapped
    return f"::ffff:{mapped}" if mapped is not None else address.compressed


def _legacy_ipv4(labels: list[str], text: str) -> ipaddress.IPv4Address:
    """An IPv4 address in inet_aton's forms: 1 to 4 parts, each decimal, 0x-hex or 0-octal."""
    reason = f"the host {text!r} looks like an IP address but is not a valid one"
    if len(labels) > 4:
        raise _invalid(reason)
    try:
        numbers = [_ipv4_part(label) for label in labels]
    except ValueError:
        raise _invalid(reason) from None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise _invalid(reason)
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_part(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    if not label or len(label) > 12:
        raise ValueError(label)
    return int(label, 10)


@lru_cache(maxsize=4096)
def ip_of(host: str) -> IpAddress | None:
    """The address of a normalised host that is an IP literal, else None."""
    if not host or not (host[-1].isdigit() or ":" in host):
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalise_path(path: str) -> str:
    """Decode escapes of unreserved characters, upper-case the rest, drop dot segments."""
    if not path:
        return "/"
    if "%" in path:
        path = _ESCAPE.sub(_escape, path)
    if not path.isascii():
        path = quote(path, safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    return remove_dot_segments(path) if "." in path else path


def _escape(match: re.Match[str]) -> str:
    hex_digits = match.group(1)
    if hex_digits is None:
        raise _invalid("the URL's path has a '%' that is not followed by two hex digits")
    char = chr(int(hex_digits, 16))
    return char if char in _UNRESERVED else f"%{hex_digits.upper()}"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path."""
    segments = path.split("/")
    out: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out)
