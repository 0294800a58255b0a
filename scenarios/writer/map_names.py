"""Where the map files of a location live in a dataroot, and the token of its ``map.json`` row (shared by
the map writer and the tables)."""

from __future__ import annotations

from scenarios.writer.tokens import make_token


def map_token(location: str) -> str:
    return make_token("map", location)


def expansion_filename(location: str) -> str:
    return f"maps/expansion/{location}.json"


def mask_filename(location: str) -> str:
    return f"maps/{map_token(location)}.png"


def basemap_filename(location: str) -> str:
    return f"maps/basemap/{location}.png"
