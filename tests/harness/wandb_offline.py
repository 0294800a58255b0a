"""Read an offline W&B run file (``run-<id>.wandb``) back with wandb's own protobuf schema.

The file is wandb's LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then
32 KiB blocks of chunks with a 7-byte header (CRC32, length, type: 1 full, 2 first, 3 middle,
4 last). wandb >= 0.2x ships no Python reader, so the tests carry this one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

HEADER = b":W&B\xe1\xbe\x00"
BLOCK = 32768
CHUNK = struct.Struct("<IHB")


def records(path: Path) -> list:
    """All ``wandb_internal_pb2.Record`` messages of a ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[: len(HEADER)] == HEADER, f"{path}: not a W&B run file"
    pos, buf, out = len(HEADER), b"", []
    while pos + CHUNK.size <= len(data):
        if BLOCK - pos % BLOCK < CHUNK.size:  # block trailer padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = CHUNK.unpack_from(data, pos)
        pos += CHUNK.size
        if kind == 0 and length == 0:
            break
        buf += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
            buf = b""
    return out


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def history_and_summary(path: Path) -> tuple[list[dict], dict]:
    """(history rows, final summary) with JSON-decoded values."""
    history, summary = [], {}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            history.append({_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in rec.summary.update})
    return history, summary
