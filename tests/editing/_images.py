"""Images the editing tests hand the router: RGBA and grey-alpha PNG masks, and PNGs of a
chosen byte size (a private ancillary chunk pads them; decoders skip it)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(width: int, height: int, *, colour_type: int = 6, padding: int = 0) -> bytes:
    """A valid 8-bit PNG of ``colour_type`` (6 RGBA, 4 grey+alpha, 2 RGB, 0 grey), fully
    transparent where it has alpha, padded by ``padding`` bytes in a private chunk."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    rows = (b"\x00" + b"\x00" * (width * channels)) * height
    body = _chunk(b"IHDR", header)
    if padding:
        body += _chunk(b"prVt", b"\x00" * padding)
    body += _chunk(b"IDAT", zlib.compress(rows, 1)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
