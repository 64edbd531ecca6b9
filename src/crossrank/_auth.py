"""Who may call a crossrank server: the API key check that ``crossrank serve`` and
``crossrank mcp`` share, and which addresses only this machine reaches.

Example:
    >>> authorized("Bearer s3cret", "s3cret")
    True
    >>> is_loopback("0.0.0.0")
    False
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

REFUSED = "missing or wrong API key: send Authorization: Bearer KEY"


def authorized(authorization: str, api_key: str, *, basic: bool = False) -> bool:
    """Whether an ``Authorization`` header value carries ``api_key`` as ``Bearer KEY``.

    With ``basic``, HTTP Basic credentials with the key as the password also pass (what a
    browser sends when it asks for one). Both keys are hashed before the comparison, so its
    time depends on neither the key nor how much of it a caller guessed right (nor its
    length).
    """
    scheme, _, given = authorization.partition(" ")
    if basic and scheme.lower() == "basic":
        try:
            given = base64.b64decode(given.strip()).decode().partition(":")[2]
        except ValueError:  # not base64, or not UTF-8
            given = ""
        scheme = "bearer"
    digest = hashlib.sha256(given.strip().encode()).digest()
    expected = hashlib.sha256(api_key.encode()).digest()
    return hmac.compare_digest(digest, expected) and scheme.lower() == "bearer"


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a server reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False
