"""``imagegate batch … --batch-api gemini/<model> [--batch-until WHEN]``: the Gemini Batch
API mode from the command line (`run_batch_api`)."""

from __future__ import annotations

import argparse
import re
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import datetime, timedelta

from imagegate._router import Router
from imagegate.batch._gemini import GeminiBatch
from imagegate.batch._gemini_run import run_batch_api
from imagegate.batch._items import BatchItem
from imagegate.batch._journal import ItemResult
from imagegate.batch._run import Progress
from imagegate.errors import ConfigurationError

__all__ = ["add_batch_api_options", "batch_api_results", "parse_until"]

_DURATION = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)?")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_until(text: str) -> datetime | timedelta:
    """``--batch-until``: a duration (``90m``, ``6h``, ``1d``, seconds by default) or an
    ISO 8601 time (``2026-12-07T06:00+00:00``; without an offset, UTC).

    Raises:
        ConfigurationError: neither.
    """
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        return timedelta(seconds=float(duration["amount"]) * _UNIT_S[duration["unit"] or "s"])
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"--batch-until takes a duration (90m, 6h, 1d) or an ISO 8601 time, got {text!r}"
        ) from None


def add_batch_api_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--batch-api`` and ``--batch-until`` to ``imagegate batch``."""
    parser.add_argument(
        "--batch-api", metavar="gemini/MODEL", default=None,
        help="send items through Gemini's Batch API first (half price, up to 24 h); what "
        "it does not deliver goes to the routes (needs a gemini route for the key)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-until", metavar="WHEN", default=None,
        help="with --batch-api: stop waiting for jobs then (90m, 6h, or an ISO time); "
        "their items go to the routes",
    )  # fmt: skip


def batch_api_results(
    args: argparse.Namespace, router: Router, progress: Progress
) -> Callable[[Iterable[BatchItem]], AsyncGenerator[ItemResult, None]]:
    """``imagegate batch`` in the Batch API mode: the options checked now, and what
    turns the items into results.

    Raises:
        ConfigurationError: a bad ``--batch-api`` or ``--batch-until``, or no gemini route.
    """
    batch = GeminiBatch.from_router(router, args.batch_api)
    until = parse_until(args.batch_until) if args.batch_until is not None else None

    def results(items: Iterable[BatchItem]) -> AsyncGenerator[ItemResult, None]:
        return run_batch_api(
            router, items, args.out, batch=batch, until=until, concurrency=args.concurrency,
            retry_failed=args.retry_failed, progress=progress,
        )  # fmt: skip

    return results
