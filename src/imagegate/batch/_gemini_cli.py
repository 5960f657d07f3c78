"""``imagegate batch … --batch-api gemini/<model> [--batch-until WHEN]``: the Gemini Batch
API mode from the command line (`run_batch_api`)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator, Callable, Iterable

from imagegate._router import Router
from imagegate.batch._gemini import GeminiBatch
from imagegate.batch._gemini_run import run_batch_api
from imagegate.batch._items import BatchItem
from imagegate.batch._journal import ItemResult
from imagegate.batch._run import Progress
from imagegate.batch._until import parse_until

__all__ = ["add_batch_api_options", "batch_api_results"]


def add_batch_api_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--batch-api`` and ``--batch-until`` to ``imagegate batch``."""
    parser.add_argument(
        "--batch-api", metavar="gemini/MODEL", default=None,
        help="send items through Gemini's Batch API first (half price, up to 24 h); what "
        "it does not deliver goes to the routes (needs a gemini route for the key)",
    )  # fmt: skip
    parser.add_argument(
        "--batch-until", type=parse_until, metavar="WHEN", default=None,
        help="with --batch-api: stop waiting for jobs then (90m, 6h, or an ISO time); "
        "their items go to the routes",
    )  # fmt: skip


def batch_api_results(
    args: argparse.Namespace, router: Router, progress: Progress
) -> Callable[[Iterable[BatchItem]], AsyncGenerator[ItemResult, None]]:
    """``imagegate batch`` in the Batch API mode: the options checked now, and what
    turns the items into results.

    Raises:
        ConfigurationError: a bad ``--batch-api``, or no gemini route.
    """
    batch = GeminiBatch.from_router(router, args.batch_api)

    def results(items: Iterable[BatchItem]) -> AsyncGenerator[ItemResult, None]:
        return run_batch_api(
            router, items, args.out, batch=batch, until=args.batch_until,
            park_until=args.until, concurrency=args.concurrency,
            retry_failed=args.retry_failed, progress=progress,
        )  # fmt: skip

    return results
