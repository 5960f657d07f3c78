"""What an answer's extras carry on to `ImageResult.metadata`: short, finite, redacted."""

from __future__ import annotations

import math
from typing import Any

from imagegate import Capabilities, ProviderRequest, ProviderResponse, Route, Router
from imagegate._provider import clean_metadata
from imagegate._result import GeneratedImage
from imagegate.testing._images import make_png

_KEY = "sk-proj-MetadataTest0123456789abcdefghijklmnop"


class ChattyPlugin:
    """Answers with an image and whatever metadata it was given."""

    name = "chatty"

    def __init__(self, metadata: Any) -> None:
        self._metadata = metadata

    def capabilities(self, model: str) -> Capabilities:
        """Every tier."""
        return Capabilities()

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """One 1K image, with the metadata."""
        image = GeneratedImage(make_png(1024, 1024))
        return ProviderResponse(images=(image,), metadata=self._metadata)

    async def aclose(self) -> None:
        """Nothing to close."""


def test_hostile_metadata_is_cut_down_and_redacted() -> None:
    """Long texts are cut, keys masked, odd numbers and objects dropped, depth and width capped."""
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(6):
        deep = {"next": deep}
    metadata = {
        "id": "x" * 1_000_000,
        "echo": f"Incorrect API key provided: {_KEY}",
        "nan": math.nan,
        "inf": math.inf,
        "huge": 10**400,
        "ok": 7,
        "object": object(),
        "deep": deep,
        "wide": list(range(10_000)),
        "many": {str(i): i for i in range(10_000)},
        5: "a key that is not a string",
    }
    cleaned = clean_metadata(metadata)
    assert len(cleaned["id"]) == 512
    assert _KEY not in cleaned["echo"]
    assert "nan" not in cleaned
    assert "inf" not in cleaned
    assert "huge" not in cleaned
    assert "object" not in cleaned
    assert 5 not in cleaned
    assert cleaned["ok"] == 7
    assert len(cleaned["wide"]) == 32
    assert len(cleaned["many"]) == 32
    assert cleaned["deep"] == {"next": {"next": {}}}  # three levels of mappings


async def test_a_plugins_metadata_reaches_the_result_cleaned() -> None:
    """Through the router: the result's metadata is the cleaned copy."""
    router = Router(
        routes=[Route(ChattyPlugin({"note": "y" * 5000, "echo": f"Bearer {_KEY}"}), model="m")]
    )
    async with router:
        result = await router.generate("a lighthouse", size="1K")
    assert len(result.metadata["note"]) == 512
    assert _KEY not in str(result.metadata)
