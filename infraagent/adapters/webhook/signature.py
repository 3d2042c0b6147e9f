"""GitHub-style request signatures: HMAC-SHA256 over the raw body, hex in a header.

``sign`` produces the ``X-Hub-Signature-256`` value (``sha256=<hex>``) a sender puts on a
request; ``verify`` checks one in constant time. Deliberately nothing else: no secret
lookup, no HTTP, and the legacy SHA-1 ``X-Hub-Signature`` header is not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_PREFIX: Final = "sha256="
_WELL_FORMED: Final = re.compile(r"sha256=[0-9a-fA-F]{64}")


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body`` under ``secret``: ``sha256=<hex>``."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is a well-formed, correct signature of ``body`` under ``secret``.

    An empty secret never verifies (an HMAC with an empty key proves nothing). The digest
    comparison is constant-time (``hmac.compare_digest``); only the header's shape is checked
    before it, and that check does not depend on the secret.
    """
    if not secret or header is None or _WELL_FORMED.fullmatch(header) is None:
        return False
    given = header[len(_PREFIX) :].lower().encode("ascii")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, given)
