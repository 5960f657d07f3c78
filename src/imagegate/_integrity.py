"""Is an encoded image complete? A cheap structural check, no decoder.

An upstream can answer 200 with an image cut short: a PNG or JPEG header that announces
4096×4096 pixels, followed by nothing (or by half the data). Reading the header alone would
count that as a delivered 4K image, so `GeneratedImage` also checks the end:

- PNG: the chunks, walked by their length fields from the signature, must reach an
  ``IEND`` chunk without any chunk running past the end of the data, within
  `MAX_PNG_CHUNKS` chunks (a hostile body of millions of empty chunks would otherwise
  hold the event loop for seconds; real encoders write a few thousand at most).
- JPEG: the header segments must lead to a start-of-scan (``FFDA``), and an end-of-image
  marker (``FFD9``) must follow the scan. Entropy-coded data never contains ``FFD9`` (an
  ``FF`` byte in it is always followed by ``00`` or a restart marker), so finding it after
  the scan header proves the scan was not cut. Bytes after it are tolerated.
- WebP: the RIFF size field plus its 8-byte header must equal the data length.

Nothing is decompressed and no checksum is computed: the cost is one pass over the chunk
or segment headers plus one reverse byte search, whatever the image size.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = ["MAX_PNG_CHUNKS", "incompleteness"]

MAX_PNG_CHUNKS: Final = 100_000
"""Most chunks walked in a PNG: 100,000 IDAT chunks of the usual 8 KiB hold 800 MB."""

_PNG_CHUNK: Final = struct.Struct(">I4s")
_PNG_SIGNATURE_LEN: Final = 8
_JPEG_STANDALONE: Final = frozenset((0x01, *range(0xD0, 0xD8)))  # TEM, RST0-7: no length


def incompleteness(data: bytes, mime_type: str) -> str | None:
    """Why ``data`` (already sniffed as ``mime_type``) is not a complete image, or None."""
    if mime_type == "image/png":
        return _png(data)
    if mime_type == "image/jpeg":
        return _jpeg(data)
    if mime_type == "image/webp":
        return _webp(data)
    return None


def _png(data: bytes) -> str | None:
    pos, end = _PNG_SIGNATURE_LEN, len(data)
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 12 > end:
            return f"ends after {end:,} bytes without an IEND chunk"
        length, kind = _PNG_CHUNK.unpack_from(data, pos)
        chunk_end = pos + 12 + length
        if chunk_end > end:
            return (
                f"chunk {kind.decode('latin-1')!r} at byte {pos} claims {length:,} bytes, "
                f"past the end of the data ({end:,} bytes)"
            )
        if kind == b"IEND":
            return None
        pos = chunk_end
    return f"no IEND chunk within its first {MAX_PNG_CHUNKS:,} chunks"


def _jpeg(data: bytes) -> str | None:
    scan = _start_of_scan(data)
    if isinstance(scan, str):
        return scan
    if data.rfind(b"\xff\xd9", scan) < 0:
        return f"no end-of-image marker (FFD9) after the image data ({len(data):,} bytes)"
    return None


def _start_of_scan(data: bytes) -> int | str:
    """Where the entropy-coded data starts (the end of the ``FFDA`` segment), walking the
    header segments from just after SOI (``FFD8``, checked by the sniffer); or why the
    headers are broken."""
    pos = 2
    while True:
        segment = _next_segment(data, pos)
        if isinstance(segment, str):
            return segment
        marker, pos = segment
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            return pos


def _next_segment(data: bytes, pos: int) -> tuple[int, int] | str:
    """The marker at ``pos`` and where the next one starts; or why there is none."""
    end = len(data)
    if pos + 2 > end:
        return f"ends after {end:,} bytes inside its headers, before any image data"
    if data[pos] != 0xFF:
        return f"no marker at byte {pos} in its headers"
    marker = data[pos + 1]
    if marker == 0xFF:  # fill byte before a marker
        return marker, pos + 1
    if marker in _JPEG_STANDALONE:
        return marker, pos + 2
    if marker == 0xD9:
        return "ends (FFD9) before any image data"
    if pos + 4 > end:
        return f"ends after {end:,} bytes inside its headers, before any image data"
    (length,) = struct.unpack_from(">H", data, pos + 2)
    segment_end = pos + 2 + length
    if length < 2 or segment_end > end:
        return f"segment FF{marker:02X} at byte {pos} runs past the end ({end:,} bytes)"
    return marker, segment_end


def _webp(data: bytes) -> str | None:
    if len(data) < 12:
        return f"ends after {len(data)} bytes inside its RIFF header"
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 != len(data):
        return f"RIFF header announces {riff_size + 8:,} bytes but the data has {len(data):,}"
    return None
