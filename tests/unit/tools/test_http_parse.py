"""The http_request parser: one canonical request for every spelling of a URL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infraagent.models.requests import HttpRequest, ParseError
from infraagent.tools.http import parse_http


def get(url: str, **extra: Any) -> HttpRequest:
    return parse_http({"method": "GET", "url": url, **extra})


def refused(tool_input: Any) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_http(tool_input)
    assert caught.value.rule == "parse/invalid-input"
    return caught.value


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0X7F000001/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://0177.0000.0000.0001/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://127.0.1/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0x7f.0.0.0x1/", "127.0.0.1"),
        ("http://127.0.0.1./", "127.0.0.1"),
        ("http://%31%32%37.0.0.1/", "127.0.0.1"),
        ("http://１２７.０.０.１/", "127.0.0.1"),
        ("http://0/", "0.0.0.0"),
        ("http://2852039166/", "169.254.169.254"),
        ("http://0xa9fea9fe/", "169.254.169.254"),
        ("http://0251.0376.0251.0376/", "169.254.169.254"),
        ("http://169.254.43518/", "169.254.169.254"),
        ("http://167772161/", "10.0.0.1"),
        ("http://10.1/", "10.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://[0:0:0:0:0:0:0:1]/", "::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
        ("http://[::FFFF:7F00:1]/", "::ffff:127.0.0.1"),
        ("http://[fe80::1%25eth0]/", "fe80::1"),
        ("http://[FD00:EC2::254]/", "fd00:ec2::254"),
        ("http://LOCALHOST./", "localhost"),
        ("http://ｌｏｃａｌｈｏｓｔ/", "localhost"),
        ("http://%6c%6fcalhost/", "localhost"),
        ("http://Metadata.Google.Internal./", "metadata.google.internal"),
        ("http://bücher.example/", "xn--bcher-kva.example"),
        ("http://my_host.internal/", "my_host.internal"),
    ],
)
def test_hosts_are_normalised(url: str, host: str) -> None:
    assert get(url).host == host


@given(st.lists(st.booleans(), min_size=30, max_size=30), st.booleans())
def test_scheme_and_host_casing_and_a_trailing_dot_do_not_matter(
    flips: list[bool], dot: bool
) -> None:
    raw = "https://status.example.com"
    cased = "".join(c.upper() if f else c for c, f in zip(raw, flips, strict=False))
    request = get(cased + ("." if dot else "") + "/health")
    assert request.url == "https://status.example.com/health"


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://example.com/", 80),
        ("https://example.com/", 443),
        ("https://example.com:8443/", 8443),
        ("http://example.com:/", 80),
        ("http://[::1]:8080/", 8080),
    ],
)
def test_ports_default_by_scheme(url: str, port: int) -> None:
    assert get(url).port == port


@pytest.mark.parametrize(
    ("url", "path", "query"),
    [
        ("https://h", "/", ""),
        ("https://h?x=1", "/", "x=1"),
        ("https://h/a/./b/../c", "/a/c", ""),
        ("https://h/a/%2e%2e/b", "/b", ""),
        ("https://h/a/%2E%2e/%2e/b/", "/b/", ""),
        ("https://h/../../etc/passwd", "/etc/passwd", ""),
        ("https://h/%7euser/%41%62%2D", "/~user/Ab-", ""),
        ("https://h/a%2fb%3f", "/a%2Fb%3F", ""),
        ("https://h/v1/..", "/", ""),
        ("https://h/x?q=%2e%2e&a=b#frag", "/x", "q=%2e%2e&a=b"),
        ("https://h/ü", "/%C3%BC", ""),
    ],
)
def test_paths_are_normalised_and_queries_kept(url: str, path: str, query: str) -> None:
    request = get(url)
    assert (request.path, request.query) == (path, query)


def test_a_full_request() -> None:
    request = parse_http(
        {
            "method": "post",
            "url": "HTTPS://API.Example.COM:443/v1/items?dry=1",
            "headers": {"Content-Type": "application/json", "X-Trace": "abc"},
            "body": '{"a": 1}',
        }
    )
    assert request == HttpRequest(
        method="POST",
        scheme="https",
        host="api.example.com",
        port=443,
        path="/v1/items",
        query="dry=1",
        headers={"content-type": "application/json", "x-trace": "abc"},
        body='{"a": 1}',
    )
    assert request.url == "https://api.example.com/v1/items?dry=1"


@pytest.mark.parametrize(
    "url", ["ftp://files.example.com/x", "gopher://h:70/", "GOPHER://h/", "file:///etc/passwd",
            "mailto:someone@example.com", "unix:///var/run/docker.sock", "data:text/plain,x"]
)  # fmt: skip
def test_other_schemes_are_refused_before_anything_else(url: str) -> None:
    with pytest.raises(ParseError) as caught:
        get(url)
    assert caught.value.rule == "http/scheme"


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "PROPFIND", "BREW"])
def test_only_standard_methods_are_accepted(method: str) -> None:
    refused({"method": method, "url": "https://h/"})


def test_null_optional_fields_are_absent() -> None:
    request = get("https://h/", headers=None, body=None)
    assert (request.headers, request.body) == ({}, None)


def test_credentials_in_the_url_are_refused() -> None:
    for url in ("https://user:pass@h/", "https://token@h/", "https://h@169.254.169.254/"):
        error = refused({"method": "GET", "url": url})
        assert "injected by the environment" in error.reason


@pytest.mark.parametrize(
    "url",
    [
        "", "example.com/x", "//example.com/x", "http:///x", "http://h:0/", "http://h:65536/", "http://h:8o/",
        "http://h:-1/", "http://1.2.3.4.5/", "http://256.0.0.1/", "http://08.0.0.1/",
        "http://0x100000000/", "http://1.2.3.256.", "http://a..b/", "http://-a.example/",
        "http://[::1/", "http://[::1]x/", "http://[1.2.3.4]/", "http://[v1.x]/",
        "http://h /", "http://h/a b", "http://h\\@evil.example/", "http://h/\t",
        "http://h/%", "http://h/%zz", "http://h/%4", "http://%zz/", "http://%ff/",
        "http://" + "a" * 64 + ".example/", "http://" + "a." * 130 + "example/",
        "https://h/" + "a" * 9000,
    ],
)  # fmt: skip
def test_unusable_urls_are_refused(url: str) -> None:
    refused({"method": "GET", "url": url})


@pytest.mark.parametrize(
    "tool_input",
    [
        None,
        "GET https://h/",
        [],
        {},
        {"method": "GET"},
        {"url": "https://h/"},
        {"method": 1, "url": "https://h/"},
        {"method": "GET", "url": b"https://h/"},
        {"method": "GET", "url": "https://h/", "timeout": 3},
        {"method": "G3T", "url": "https://h/"},
        {"method": "GET /x", "url": "https://h/"},
        {"method": "", "url": "https://h/"},
        {"method": " GET", "url": "https://h/"},
        {"method": "GET", "url": "https://h/", "body": {"a": 1}},
        {"method": "GET", "url": "https://h/", "headers": ["a"]},
        {"method": "GET", "url": "https://h/", "headers": {"a": 1}},
        {"method": "GET", "url": "https://h/", "headers": {"bad name": "x"}},
        {"method": "GET", "url": "https://h/", "headers": {"x": "a\r\nHost: evil"}},
        {"method": "GET", "url": "https://h/", "headers": {"Host": "kubernetes"}},
        {"method": "GET", "url": "https://h/", "headers": {"Transfer-Encoding": "chunked"}},
        {"method": "GET", "url": "https://h/", "headers": {"X-A": "1", "x-a": "2"}},
        {"method": "GET", "url": "https://h/", "headers": {f"x-{i}": "v" for i in range(65)}},
    ],
)
def test_malformed_input_is_refused(tool_input: Any) -> None:
    refused(tool_input)


def test_authorization_headers_are_refused_as_credentials() -> None:
    for name in ("Authorization", "proxy-authorization"):
        error = refused({"method": "GET", "url": "https://h/", "headers": {name: "Bearer x"}})
        assert "credentials are injected by the environment" in error.reason
