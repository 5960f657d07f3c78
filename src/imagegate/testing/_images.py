"""Real, valid PNG images of any pixel size, made fast with the standard library.

The fakes and the simulator return genuine images so that everything downstream (header
parsing, tier detection, ``save()``) runs for real. Each image is a horizontal colour
band pattern picked by ``seed``; every row of a band is identical, so compression is
cheap even at 4096×4096. ``payload="realistic"`` instead fills the pixels with noise so
the file is as large as a real photo-like PNG (tens of MB at 4K).
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from typing import Final, Literal

__all__ = ["Payload", "make_png"]

Payload = Literal["small", "realistic"]
"""``"small"``: a few KB to a few hundred KB; ``"realistic"``: real-world byte sizes."""

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_BANDS: Final = 8


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _band_colours(seed: int) -> list[bytes]:
    colours = []
    state = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    for _ in range(_BANDS):
        state = (state * 1103515245 + 12345) & 0xFFFFFFFF
        colours.append(bytes(((state >> s) & 0xFF) for s in (0, 8, 16)))
    return colours


@functools.lru_cache(maxsize=64)
def make_png(width: int, height: int, *, seed: int = 0, payload: Payload = "small") -> bytes:
    """Encode a ``width`` × ``height`` RGB PNG.

    Results are cached: the same arguments return the same bytes object.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image sides must be positive, got {width}x{height}")
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    compressor = zlib.compressobj(level=1 if payload == "small" else 0)
    parts = []
    if payload == "realistic":
        # Noise does not compress, like a photo; stored blocks keep encoding fast.
        row_len = 1 + width * 3
        for _ in range(height):
            parts.append(compressor.compress(b"\x00" + os.urandom(row_len - 1)))
    else:
        band_rows = [b"\x00" + colour * width for colour in _band_colours(seed)]
        band_height = max(1, -(-height // _BANDS))
        for y in range(height):
            parts.append(compressor.compress(band_rows[min(y // band_height, _BANDS - 1)]))
    parts.append(compressor.flush())
    return b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", b"".join(parts)),
            _chunk(b"IEND", b""),
        )
    )
