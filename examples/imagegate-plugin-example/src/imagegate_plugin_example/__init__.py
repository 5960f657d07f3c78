"""An imagegate provider plugin that draws flat-colour swatches locally.

imagegate finds this module through the ``imagegate.providers`` entry point in
pyproject.toml and calls `register_providers` with its ``register`` callback.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from imagegate import (
    Capabilities,
    GeneratedImage,
    ProviderConfig,
    ProviderRequest,
    ProviderResponse,
    pixels_for,
)
from imagegate.errors import ContentBlocked
from imagegate.providers import RegisterFunc

__all__ = ["SwatchProvider", "register_providers"]

# The models this provider knows, and what they can do.
MODELS = {
    "flat": Capabilities(sizes=frozenset({"1K", "2K"}), max_n=4, price_usd={"1K": 0.0, "2K": 0.0}),
}
DEFAULT_MODEL = MODELS["flat"]


def _png(width: int, height: int, rgb: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + rgb * width
    compressor = zlib.compressobj(level=6)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header), chunk(b"IDAT", idat), chunk(b"IEND", b""))
    )


class SwatchProvider:
    """Draws a flat colour chosen by the prompt.

    Args:
        blocked_words: Prompts containing any of these are refused, to show how a
            provider reports a safety block.
    """

    name = "swatch"
    ends_when_cancelled = True  # nothing in generate() holds on: call it in the request's task

    def __init__(self, *, blocked_words: frozenset[str] = frozenset()) -> None:
        self.blocked_words = blocked_words

    def capabilities(self, model: str) -> Capabilities:
        """What ``model`` can do; unknown models get the defaults."""
        return MODELS.get(model, DEFAULT_MODEL)

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Draw ``request.n`` swatches at the requested tier and ratio."""
        words = set(request.prompt.lower().split())
        if words & self.blocked_words:
            raise ContentBlocked("prompt refused by the swatch filter", stage="prompt")
        width, height = pixels_for(request.size, request.aspect_ratio)
        rgb = hashlib.sha256(request.prompt.encode()).digest()[:3]
        image = GeneratedImage(_png(width, height, rgb), mime_type="image/png")
        return ProviderResponse(images=(image,) * request.n, cost_usd=0.0)

    async def aclose(self) -> None:
        """Nothing to release."""


def _build(config: ProviderConfig) -> SwatchProvider:
    blocked = config.options.get("blocked_words", ())
    return SwatchProvider(blocked_words=frozenset(str(w).lower() for w in blocked))


def register_providers(register: RegisterFunc) -> None:
    """Called by imagegate once, when the registry loads."""
    register("swatch", _build, description="Flat-colour swatches drawn locally (example plugin)")
