"""The event log: one `SimEvent` per upstream attempt, in start order."""

from __future__ import annotations

from dataclasses import dataclass

from imagegate._request import Size

__all__ = ["EventLog", "EventRecord", "SimEvent"]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One upstream attempt as the simulator saw it.

    Attributes:
        provider: ``"gemini"``, ``"vertex"``, ``"openai"``, ``"openai_compatible"`` or
            ``"flux"``.
        model: The model id asked for.
        size: The tier asked for (for pixel-sized requests, the tier of those pixels).
        aspect_ratio: ``"W:H"`` asked for (or derived from the pixels asked for).
        n: Images asked for.
        prompt: The prompt text.
        attempt: How many earlier attempts of the same (prompt, provider, model, size)
            the simulator saw (0 for the first).
        outcome: What happened: a planned kind (``"success"``, ``"overloaded"`` …), a
            quota verdict (``"rate_limited"``, ``"quota_exhausted"``), ``"disconnected"``
            when the client went away first, ``"auth_error"``, ``"invalid_request"``,
            ``"not_found"``, or ``"pending"`` while it runs.
        planned: What the world had planned (`World.plan`), before quotas and disconnects.
        status: The HTTP status sent (None when no status line was: reset, disconnected).
        started: Simulated seconds (the simulator's clock) when the request arrived.
        ended: Simulated seconds when the answer ended, or None while pending.
        latency_s: The simulated latency the world planned (deterministic; compare
            ``ended - started`` for what was observed).
        bytes_sent: Response body bytes written (Flux: submit answer plus sample download;
            polls are not counted).
        billed: Whether the simulated provider charges for it. A disconnected attempt is
            billed when the provider would have finished the work anyway.
        width: Width of the image delivered, or None.
        height: Height of the image delivered, or None.
        images: The SHA-256 (hex) of each input image received, in order (edits and
            references; empty for plain generation). Only digests are kept.
        mask: The SHA-256 of the edit mask received, or None.
        batch: True for an item of a Gemini Batch API job (billed at the batch rate).
    """

    provider: str
    model: str
    size: Size
    aspect_ratio: str
    n: int
    prompt: str
    attempt: int
    outcome: str
    planned: str
    status: int | None
    started: float
    ended: float | None
    latency_s: float
    bytes_sent: int
    billed: bool
    width: int | None = None
    height: int | None = None
    images: tuple[str, ...] = ()
    mask: str | None = None
    batch: bool = False


class EventRecord:
    """The mutable record behind a `SimEvent` while its attempt runs."""

    __slots__ = (
        "aspect_ratio",
        "attempt",
        "batch",
        "billed",
        "bytes_sent",
        "ended",
        "height",
        "images",
        "latency_s",
        "mask",
        "model",
        "n",
        "outcome",
        "planned",
        "prompt",
        "provider",
        "size",
        "started",
        "status",
        "width",
    )

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        size: Size,
        aspect_ratio: str,
        n: int,
        prompt: str,
        attempt: int,
        started: float,
        images: tuple[str, ...] = (),
        mask: str | None = None,
        batch: bool = False,
    ) -> None:
        self.provider = provider
        self.batch = batch
        self.images = images
        self.mask = mask
        self.model = model
        self.size: Size = size
        self.aspect_ratio = aspect_ratio
        self.n = n
        self.prompt = prompt
        self.attempt = attempt
        self.started = started
        self.outcome = "pending"
        self.planned = ""
        self.status: int | None = None
        self.ended: float | None = None
        self.latency_s = 0.0
        self.bytes_sent = 0
        self.billed = False
        self.width: int | None = None
        self.height: int | None = None

    def finish(
        self,
        outcome: str,
        *,
        status: int | None,
        now: float,
        billed: bool | None = None,
    ) -> None:
        """Record how the attempt ended (``billed`` None keeps the current value)."""
        self.outcome = outcome
        self.status = status
        self.ended = now
        if billed is not None:
            self.billed = billed

    def freeze(self) -> SimEvent:
        """The immutable snapshot."""
        return SimEvent(
            provider=self.provider,
            model=self.model,
            size=self.size,
            aspect_ratio=self.aspect_ratio,
            n=self.n,
            prompt=self.prompt,
            attempt=self.attempt,
            outcome=self.outcome,
            planned=self.planned,
            status=self.status,
            started=self.started,
            ended=self.ended,
            latency_s=self.latency_s,
            bytes_sent=self.bytes_sent,
            billed=self.billed,
            width=self.width,
            height=self.height,
            images=self.images,
            mask=self.mask,
            batch=self.batch,
        )


class EventLog:
    """Every attempt in start order, and the per-tuple attempt counters."""

    __slots__ = ("_counts", "_records")

    def __init__(self) -> None:
        self._records: list[EventRecord] = []
        self._counts: dict[tuple[str, str, str, str], int] = {}

    def start(
        self,
        *,
        provider: str,
        model: str,
        size: Size,
        aspect_ratio: str,
        n: int,
        prompt: str,
        now: float,
        images: tuple[str, ...] = (),
        mask: str | None = None,
        batch: bool = False,
    ) -> EventRecord:
        """Open the record of a new attempt; it gets the next attempt number (a batch
        item has counters of its own: it does not move the online plan's)."""
        key = (prompt, f"{provider}:batch" if batch else provider, model, size)
        attempt = self._counts.get(key, 0)
        self._counts[key] = attempt + 1
        record = EventRecord(
            provider=provider,
            model=model,
            size=size,
            aspect_ratio=aspect_ratio,
            n=n,
            prompt=prompt,
            attempt=attempt,
            started=now,
            images=images,
            mask=mask,
            batch=batch,
        )
        self._records.append(record)
        return record

    def snapshot(self) -> list[SimEvent]:
        """All events so far (pending ones included), in start order."""
        return [record.freeze() for record in self._records]

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        """Forget every event and reset the attempt counters."""
        self._records.clear()
        self._counts.clear()
