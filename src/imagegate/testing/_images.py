"""Real, valid PNG and JPEG images of any pixel size, made fast with the standard library.

The fakes and the simulator return genuine images so that everything downstream (header
parsing, tier detection, ``save()``) runs for real. Each image is a horizontal colour
band pattern picked by ``seed``; every row of a band is identical, so compression is
cheap even at 4096×4096. ``payload="realistic"`` instead fills the pixels with noise so
the file is as large as a real photo-like PNG (tens of MB at 4K).
"""

from __future__ import annotations

import functools
import os
import random
import struct
import zlib
from typing import Final, Literal

__all__ = ["Payload", "make_jpeg", "make_png"]

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


# --- JPEG -------------------------------------------------------------------------------
#
# A minimal baseline JPEG encoder: three YCbCr components without subsampling, one
# quantisation table of ones, and a restart marker after every row of 8×8 blocks. The
# restart markers reset the DC predictors, so each block row is an independent,
# byte-aligned segment: rows of one colour band are byte-identical and are encoded once.

_DC_BITS: Final = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)  # the standard luma DC
_DC_VALUES: Final = tuple(range(12))
# Our own AC table: end-of-block plus (run 0, size 1..10) is all these images need.
_AC_BITS: Final = (0, 2, 2, 2, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_AC_VALUES: Final = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A)
_COMPONENTS: Final = 3


def _canonical_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, str]:
    codes: dict[int, str] = {}
    code = 0
    index = 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = format(code, f"0{length}b")
            code += 1
            index += 1
        code <<= 1
    return codes


_DC_CODES: Final = _canonical_codes(_DC_BITS, _DC_VALUES)
_AC_CODES: Final = _canonical_codes(_AC_BITS, _AC_VALUES)
_EOB: Final = _AC_CODES[0x00]


def _magnitude(value: int) -> tuple[int, str]:
    """JPEG's (category, extra bits) for a coefficient or DC difference."""
    if value == 0:
        return 0, ""
    size = abs(value).bit_length()
    bits = value if value > 0 else value + (1 << size) - 1
    return size, format(bits, f"0{size}b")


def _dc(diff: int) -> str:
    size, extra = _magnitude(diff)
    return _DC_CODES[size] + extra


def _ac(value: int) -> str:
    size, extra = _magnitude(value)
    return _AC_CODES[size] + extra


def _segment(bits: str) -> bytes:
    """Pad a block row's bits with ones to a byte boundary and byte-stuff it."""
    bits += "1" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return raw.replace(b"\xff", b"\xff\x00")


def _dc_levels(rgb: bytes) -> tuple[int, int, int]:
    r, g, b = rgb
    ycc = (
        0.299 * r + 0.587 * g + 0.114 * b,
        128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
        128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
    )
    # A flat 8×8 block of level-shifted value v has DCT DC coefficient 8·v.
    return tuple(max(-1024, min(1016, round(8 * (c - 128)))) for c in ycc)  # type: ignore[return-value]


def _flat_row(rgb: bytes, blocks: int) -> bytes:
    first = "".join(_dc(level) + _EOB for level in _dc_levels(rgb))
    rest = (_DC_CODES[0] + _EOB) * _COMPONENTS
    return _segment(first + rest * (blocks - 1))


def _noisy_row(rng: random.Random, blocks: int) -> bytes:
    parts: list[str] = []
    previous = [0] * _COMPONENTS
    for _ in range(blocks):
        for component in range(_COMPONENTS):
            level = rng.randrange(-600, 600)
            parts.append(_dc(level - previous[component]))
            previous[component] = level
            for _ in range(rng.randrange(4, 11)):
                parts.append(_ac(rng.choice((-1, 1)) * rng.randrange(4, 64)))
            parts.append(_EOB)
    return _segment("".join(parts))


def _marker(code: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, code, len(body) + 2) + body


def _jpeg_headers(width: int, height: int, blocks_per_row: int) -> bytes:
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    quant = b"\x00" + b"\x01" * 64
    frame = struct.pack(">BHHB", 8, height, width, _COMPONENTS) + b"".join(
        bytes((i, 0x11, 0)) for i in range(1, _COMPONENTS + 1)
    )
    tables = (
        b"\x00"
        + bytes(_DC_BITS)
        + bytes(_DC_VALUES)
        + b"\x10"
        + bytes(_AC_BITS)
        + bytes(_AC_VALUES)
    )
    scan = (
        bytes((_COMPONENTS,))
        + b"".join(bytes((i, 0x00)) for i in range(1, _COMPONENTS + 1))
        + b"\x00\x3f\x00"
    )
    return b"".join(
        (
            b"\xff\xd8",
            _marker(0xE0, jfif),
            _marker(0xDB, quant),
            _marker(0xC0, frame),
            _marker(0xC4, tables),
            _marker(0xDD, struct.pack(">H", blocks_per_row)),
            _marker(0xDA, scan),
        )
    )


@functools.lru_cache(maxsize=32)
def make_jpeg(width: int, height: int, *, seed: int = 0, payload: Payload = "small") -> bytes:
    """Encode a ``width`` × ``height`` baseline colour JPEG (what Flux returns by default).

    ``payload="small"`` draws the same colour bands as `make_png` in a few kilobytes;
    ``"realistic"`` fills the blocks with noise so the file is about as large as a real
    photo-like JPEG (roughly half a byte per pixel). Results are cached.
    """
    if not (0 < width <= 65535 and 0 < height <= 65535):
        raise ValueError(f"JPEG sides must lie within 1–65535, got {width}x{height}")
    blocks_per_row = -(-width // 8)
    block_rows = -(-height // 8)
    if payload == "realistic":
        rng = random.Random(seed)
        pool = [_noisy_row(rng, blocks_per_row) for _ in range(min(block_rows, 16))]
        rows = [pool[i % len(pool)] for i in range(block_rows)]
    else:
        colours = _band_colours(seed)
        band_height = max(1, -(-height // _BANDS))
        bands = [_flat_row(colour, blocks_per_row) for colour in colours]
        rows = [bands[min(8 * r // band_height, _BANDS - 1)] for r in range(block_rows)]
    body = bytearray(_jpeg_headers(width, height, blocks_per_row))
    for index, row in enumerate(rows):
        if index:
            body += bytes((0xFF, 0xD0 + (index - 1) % 8))
        body += row
    body += b"\xff\xd9"
    return bytes(body)
