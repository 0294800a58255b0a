"""Deterministic nuScenes tokens: 32 hex characters derived from names, never from randomness or clocks."""

from __future__ import annotations

import hashlib


def make_token(*parts: object) -> str:
    """md5 hex digest of the parts joined by '/': the same parts always give the same token."""
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()
