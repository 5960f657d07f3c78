"""Peak memory with many large images in flight.

``concurrency`` requests for 4K images with realistic payloads (a 4K PNG is ~50 MB, ~67 MB
as base64 in a JSON body) are sent at once to a simulator in another process, through the
router (``min_size="4K"`` and a dispatcher as wide as the burst, so that every request is
a 4K one in flight) or through the SDK alone for comparison. The client process's resident
set size is sampled every 2 ms by a thread from just before they start until every result
has been collected — the caller holds all of them at the end, as ``asyncio.gather`` would.
Each measurement runs in a fresh child process (``python -m imagegate.bench._memory``),
so nothing else the benchmark did inflates the peak.

Reported: the image size, the body size on the wire, the RSS before, the peak, and the
peak growth per image in flight divided by the image size (how many copies of each image
the client holds at its worst).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from imagegate.bench._deps import import_optional
from imagegate.bench._serve import SimulatorProcess, fixed_latency_scenario
from imagegate.bench._setup import raw_gemini_client

__all__ = ["MemoryResult", "measure_memory", "peak_memory"]

Mode = Literal["router", "sdk"]
_MODEL = "gemini-3-pro-image"


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Peak RSS of one client process (see the module docstring).

    Attributes:
        mode: ``"router"`` (imagegate over the gemini adapter) or ``"sdk"`` (google-genai).
        concurrency: Requests in flight together.
        image_bytes: Size of one delivered image.
        wire_bytes: Size of one response body (JSON with the base64 image).
        baseline_rss: RSS before the requests, bytes.
        peak_rss: Highest RSS sampled, bytes.
        peak_growth_per_image: ``(peak - baseline) / concurrency``, bytes.
        copies: ``peak_growth_per_image / image_bytes``.
        wall_s: Real seconds from the first request to the last result.
    """

    mode: str
    concurrency: int
    image_bytes: int
    wire_bytes: int
    baseline_rss: int
    peak_rss: int
    peak_growth_per_image: float
    copies: float
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


class _Sampler:
    def __init__(self, interval_s: float = 0.002) -> None:
        psutil = import_optional("psutil", purpose="the memory measurement")
        self._process = psutil.Process()
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self._interval)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


async def _client(mode: Mode, concurrency: int, base_url: str, key: str) -> MemoryResult:
    from google.genai import types

    from imagegate import Route, Router

    prompts = [f"memory {i}" for i in range(concurrency)]
    if mode == "router":
        # Every request must stay a 4K one in flight: no downgrade, and a dispatcher wide
        # enough for all of them (with the defaults a cold burst is mostly served at 1K).
        router = Router(
            [Route("gemini", model=_MODEL, base_url=base_url, api_key=key)],
            max_in_flight=2 * concurrency,
        )
        await router.open()
        await router.generate("warm-up", size="1K")

        async def one(prompt: str) -> bytes:
            result = await router.generate(prompt, size="4K", min_size="4K", deadline=600)
            assert result.size == "4K", "every image must be a 4K one"  # from its pixels
            return result.image.data

        closer: Any = router.aclose
    else:
        client = raw_gemini_client(base_url, key)
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(image_size="4K", aspect_ratio="1:1"),
        )

        async def one(prompt: str) -> bytes:
            response = await client.aio.models.generate_content(
                model=_MODEL, contents=prompt, config=config
            )
            parts = [p for p in response.parts or [] if p.inline_data and not p.thought]
            data = parts[0].inline_data.data if parts and parts[0].inline_data else None
            assert data is not None
            return data

        await client.aio.models.generate_content(
            model=_MODEL, contents="warm-up", config=types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                image_config=types.ImageConfig(image_size="1K", aspect_ratio="1:1"),
            ),
        )  # fmt: skip
        closer = client.aio.aclose
    sampler = _Sampler()
    baseline = sampler.rss()
    started = time.perf_counter()
    with sampler:
        images = await asyncio.gather(*(one(p) for p in prompts))
    wall = time.perf_counter() - started
    # The payloads differ in length from prompt to prompt (their content is drawn from
    # it); the router checked each one's size from its pixels.
    image_bytes = max(len(image) for image in images)
    await closer()
    growth = (sampler.peak - baseline) / concurrency
    return MemoryResult(
        mode=mode,
        concurrency=concurrency,
        image_bytes=image_bytes,
        wire_bytes=_wire_bytes(image_bytes),
        baseline_rss=baseline,
        peak_rss=sampler.peak,
        peak_growth_per_image=growth,
        copies=growth / image_bytes,
        wall_s=wall,
    )


def _wire_bytes(image_bytes: int) -> int:
    # Base64 of the image plus a few hundred bytes of JSON around it.
    return 4 * ((image_bytes + 2) // 3) + 600


async def _measure(mode: Mode, concurrency: int) -> MemoryResult:
    # 5 simulated seconds at scale 1: every request is in flight before the first answers.
    scenario = fixed_latency_scenario(5.0, name="memory")
    async with SimulatorProcess(scenario, payload="realistic") as server:
        return await _client(mode, concurrency, server.base_urls["gemini"], server.keys["gemini"])


async def measure_memory(mode: Mode = "router", *, concurrency: int = 32) -> MemoryResult:
    """Run one measurement in a fresh child process and return its result."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagegate.bench._memory",
        "--mode",
        mode,
        "--concurrency",
        str(concurrency),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "IMAGEGATE_LOG_LEVEL": os.environ.get("IMAGEGATE_LOG_LEVEL", "error")},
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the memory measurement ({mode}) failed with {process.returncode}")
    return MemoryResult(**json.loads(output.decode().strip().splitlines()[-1]))


async def peak_memory(*, concurrency: int = 32) -> list[MemoryResult]:
    """The router and the SDK alone, one after the other, each in its own process."""
    return [await measure_memory(mode, concurrency=concurrency) for mode in ("router", "sdk")]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child process: prints one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m imagegate.bench._memory")
    parser.add_argument("--mode", choices=("router", "sdk"), default="router")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    result = asyncio.run(_measure(args.mode, args.concurrency))
    print(json.dumps(result.to_json()))


if __name__ == "__main__":
    main()
