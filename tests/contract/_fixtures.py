"""Recorded provider answers (``fixtures/<provider>/<case>.json``) and how to read them.

Each file holds what one public record shows a provider answering (status, relevant
headers, body), where that record is (``source``), what it shows (``what``) and what the
adapter should make of it (``expect``). Images are stored as ``@img:FORMAT:WxH@`` tokens
(``note`` says so): `load` replaces each with a small valid image of that format and those
pixel dimensions, so a fixture stays readable and the adapter still decodes a real image.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"
PROVIDERS = ("gemini", "vertex", "openai", "openrouter", "flux")
"""Fixture folders; ``openrouter`` answers are replayed to the ``openai_compatible`` adapter."""

ADAPTER = {"openrouter": "openai_compatible"}
"""The imagegate provider that talks to each fixture folder's API (by default, its name)."""

_TOKEN = re.compile(r"@img:(png|jpeg|webp):(\d+)x(\d+)@")
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True)
class Fixture:
    """One recorded exchange (or, for Flux, a sequence of them)."""

    id: str
    provider: str
    data: dict[str, Any]

    @property
    def adapter(self) -> str:
        """The registry name of the adapter the fixture is replayed to."""
        return ADAPTER.get(self.provider, self.provider)

    @property
    def model(self) -> str:
        """The model the recorded call asked for."""
        return str(self.data["model"])

    @property
    def kind(self) -> str:
        """``success``, ``no_image``, ``blocked`` or ``error``."""
        return str(self.data["kind"])

    @property
    def expect(self) -> dict[str, Any]:
        """What the adapter should make of it."""
        return dict(self.data["expect"])

    @property
    def answers(self) -> list[dict[str, Any]]:
        """The recorded answers, images expanded, in the order they are served."""
        return [expand(a) for a in self.data["answers"]]


def all_fixtures() -> list[Fixture]:
    """Every fixture file, ordered by provider then case."""
    found = []
    for provider in PROVIDERS:
        for path in sorted((FIXTURES / provider).glob("*.json")):
            data = json.loads(path.read_text())
            found.append(Fixture(f"{provider}/{path.stem}", provider, data))
    return found


def expand(value: Any) -> Any:
    """``value`` with every ``@img:…@`` token replaced by base64 image data; an answer's
    ``image`` field (a raw download) becomes bytes."""
    if isinstance(value, dict):
        if "image" in value and isinstance(value["image"], str):
            match = _TOKEN.fullmatch(value["image"])
            assert match, value["image"]
            return {**value, "image": image_bytes(*match.groups())}
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, str) and "@img:" in value:
        return _TOKEN.sub(lambda m: base64.b64encode(image_bytes(*m.groups())).decode(), value)
    return value


def token_image(token: str) -> bytes:
    """The image an ``@img:FORMAT:WxH@`` token stands for (a request's input image)."""
    match = _TOKEN.fullmatch(token)
    assert match, token
    return image_bytes(*match.groups())


@functools.cache
def image_bytes(fmt: str, width: str, height: str) -> bytes:
    """A plain image of ``fmt`` and ``width`` × ``height`` pixels (small once compressed)."""
    buffer = io.BytesIO()
    Image.new("RGB", (int(width), int(height)), (200, 120, 40)).save(buffer, _PIL_FORMAT[fmt])
    return buffer.getvalue()
