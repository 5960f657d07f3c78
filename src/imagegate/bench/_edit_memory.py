"""Peak memory with many large input images in flight: edits.

``concurrency`` edits, each with ``images`` input images of ~``image_bytes`` (random-noise
PNGs, which do not compress, as photos), are sent at once through the router to a
simulator in another process, over one route: ``gemini`` (gemini-3-pro-image: inline
base64 parts in a JSON body, built by google-genai) or ``openai`` (gpt-image-2: a
multipart form with one file per image, built by the openai SDK). Every request has its
own inputs, all loaded in memory before the requests start, as a caller holding them
would. The client's resident set size is sampled every 2 ms from just before the requests
start until every result is back. Each measurement runs in a fresh child process
(``python -m imagegate.bench._edit_memory``), so nothing else inflates the peak.

Reported: the bytes in flight (the input bytes of all the requests together), the RSS
after the inputs are loaded (the baseline), the peak, and the ratio
``(peak - baseline + inputs) / bytes in flight``: how many copies of its inputs the client
holds at its worst, the caller's own copy included (1.0 would be no copy at all).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from imagegate.bench._memory import _Sampler
from imagegate.bench._serve import SimulatorProcess, fixed_latency_scenario
from imagegate.testing._images import make_png

__all__ = ["EditMemoryResult", "edit_memory", "measure_edit_memory"]

EditPath = Literal["gemini", "openai"]
PATHS: Final[tuple[EditPath, ...]] = ("gemini", "openai")
_MODELS: Final = {"gemini": "gemini-3-pro-image", "openai": "gpt-image-2"}
_MIB: Final = 2**20


@dataclass(frozen=True, slots=True)
class EditMemoryResult:
    """Peak RSS of one client process sending edits (see the module docstring).

    Attributes:
        path: ``"gemini"`` or ``"openai"``: the route's provider.
        model: The route's model.
        concurrency: Edits in flight together.
        images: Input images per edit.
        image_bytes: Size of one input image (the largest).
        bytes_in_flight: The input bytes of all the edits together.
        baseline_rss: RSS with the inputs loaded, before the edits, bytes.
        peak_rss: Highest RSS sampled, bytes.
        copies: ``(peak_rss - baseline_rss + bytes_in_flight) / bytes_in_flight``.
        wall_s: Real seconds from the first edit to the last result.
    """

    path: str
    model: str
    concurrency: int
    images: int
    image_bytes: int
    bytes_in_flight: int
    baseline_rss: int
    peak_rss: int
    copies: float
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


def _inputs(concurrency: int, images: int, image_bytes: int) -> list[list[bytes]]:
    """Distinct noise PNGs of about ``image_bytes`` each, ``images`` per edit."""
    side = math.isqrt(image_bytes // 3)  # 3 bytes a pixel, stored uncompressed
    return [
        [make_png(side, side, seed=r * images + i, payload="realistic") for i in range(images)]
        for r in range(concurrency)
    ]


async def _client(
    path: EditPath, inputs: list[list[bytes]], base_url: str, key: str, budget: int | None
) -> EditMemoryResult:
    from imagegate import Route, Router

    model = _MODELS[path]
    route_options: dict[str, Any] = {} if budget is None else {"inline_bytes_in_flight": budget}
    concurrency = len(inputs)
    router = Router(
        [Route(path, model=model, base_url=base_url, api_key=key, **route_options)],
        max_in_flight=2 * concurrency,  # every edit in flight at once
    )
    await router.open()
    await router.generate("warm-up", size="1K")

    async def one(index: int, images: list[bytes]) -> None:
        result = await router.generate(f"edit {index}", images=images, size="1K", deadline=600)
        assert len(result.attempts) == 1, "one attempt per edit, or copies are counted twice"

    gc.collect()
    sampler = _Sampler()
    baseline = sampler.rss()
    started = time.perf_counter()
    with sampler:
        await asyncio.gather(*(one(i, images) for i, images in enumerate(inputs)))
    wall = time.perf_counter() - started
    await router.aclose()
    in_flight = sum(len(image) for images in inputs for image in images)
    return EditMemoryResult(
        path=path,
        model=model,
        concurrency=concurrency,
        images=len(inputs[0]),
        image_bytes=max(len(image) for images in inputs for image in images),
        bytes_in_flight=in_flight,
        baseline_rss=baseline,
        peak_rss=sampler.peak,
        copies=(sampler.peak - baseline + in_flight) / in_flight,
        wall_s=wall,
    )


async def _measure(
    path: EditPath,
    concurrency: int,
    images: int,
    image_bytes: int,
    latency_s: float,
    budget: int | None = None,
) -> EditMemoryResult:
    inputs = _inputs(concurrency, images, image_bytes)
    # At scale 1 every edit is in flight before the first answers (small answers: the
    # inputs are what is measured).
    scenario = fixed_latency_scenario(latency_s, name="edit-memory")
    async with SimulatorProcess(scenario, payload="small") as server:
        return await _client(path, inputs, server.base_urls[path], server.keys[path], budget)


async def measure_edit_memory(
    path: EditPath = "gemini",
    *,
    concurrency: int = 16,
    images: int = 4,
    image_bytes: int = 4 * _MIB,
    latency_s: float = 5.0,
    inline_bytes_in_flight: int | None = None,
) -> EditMemoryResult:
    """Run one measurement in a fresh child process and return its result.

    Args:
        path: The route's provider, ``"gemini"`` or ``"openai"``.
        concurrency: Edits sent at once.
        images: Input images per edit.
        image_bytes: About the size of each input image.
        latency_s: How long the simulator takes to answer each edit (real seconds).
        inline_bytes_in_flight: The gemini route's budget of input bytes in flight (its
            default, 64 MiB, when None).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegate.bench._edit_memory",
        *("--path", path, "--concurrency", str(concurrency), "--images", str(images)),
        *("--image-bytes", str(image_bytes), "--latency-s", repr(latency_s)),
        *(("--budget", str(inline_bytes_in_flight)) if inline_bytes_in_flight else ()),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "IMAGEGATE_LOG_LEVEL": os.environ.get("IMAGEGATE_LOG_LEVEL", "error")},
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the edit memory measurement ({path}) failed with {process.returncode}")
    return EditMemoryResult(**json.loads(output.decode().strip().splitlines()[-1]))


async def edit_memory(**options: Any) -> list[EditMemoryResult]:
    """The gemini and the openai paths, one after the other, each in its own process
    (``options``: those of `measure_edit_memory`)."""
    return [await measure_edit_memory(path, **options) for path in PATHS]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child process: prints one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m imagegate.bench._edit_memory")
    parser.add_argument("--path", choices=PATHS, default="gemini")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--image-bytes", type=int, default=4 * _MIB)
    parser.add_argument("--latency-s", type=float, default=5.0)
    parser.add_argument("--budget", type=int, default=None)
    args = parser.parse_args(argv)
    result = asyncio.run(
        _measure(
            args.path,
            args.concurrency,
            args.images,
            args.image_bytes,
            args.latency_s,
            args.budget,
        )
    )
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
