"""The API key check and the loopback test that ``crossrank serve`` and ``crossrank mcp``
share."""

import base64

import pytest

from crossrank._auth import authorized, is_loopback


@pytest.mark.parametrize(
    ("header", "basic", "expected"),
    [
        ("Bearer s3cret", False, True),
        ("bearer  s3cret ", False, True),
        ("Bearer s3cre", False, False),
        ("Bearer s3cretx", False, False),
        ("Token s3cret", False, False),
        ("", False, False),
        ("Bearer", False, False),
        ("Basic " + base64.b64encode(b"anyone:s3cret").decode(), True, True),
        ("Basic " + base64.b64encode(b"anyone:s3cret").decode(), False, False),
        ("Basic " + base64.b64encode(b"anyone:nope").decode(), True, False),
        ("Basic not-base64!", True, False),
    ],
)
def test_authorized(header: str, basic: bool, expected: bool):
    assert authorized(header, "s3cret", basic=basic) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, expected: bool):
    assert is_loopback(host) is expected
