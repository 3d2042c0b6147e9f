"""Test-wide settings.

Hypothesis explores new random examples on every local run (that is how the property
tests find bugs); under CI (``CI`` set, as ``.ci/run`` is run) it is derandomized, so a
CI result depends only on the commit.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
