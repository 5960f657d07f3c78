"""Durable batches: thousands of requests that survive a crash, a Ctrl-C or an outage.

`run` sends every item of a batch through a router and keeps an append-only journal in
the output folder, so running it again resumes: finished items are neither generated
nor paid for twice, items cut off are run again::

    from imagegate.batch import run

    items = ({"id": f"sku-{n}", "prompt": f"product shot {n}"} for n in range(10_000))
    async with Router.from_config("router.toml") as router:
        async for result in run(router, items, "out/"):
            print(result.id, result.status, result.error or result.file)

With ``until=`` (``--until 36h``), an item that fails only for a spent quota or an outage
is parked until the router's breakers and quotas let it through, rather than failed.

``imagegate batch requests.jsonl --out DIR`` is the same from the command line
(docs/batch.md: the journal's format, what resuming does, what a kill costs, waiting for
quotas and outages).

`run_batch_api` sends the items through Gemini's Batch API first (`GeminiBatch`: half
price, answers within a day) and what it does not deliver through the router, on the
same journal (``--batch-api gemini/<model>`` on the command line).
"""

from imagegate.batch._gemini import GeminiBatch
from imagegate.batch._gemini_run import run_batch_api
from imagegate.batch._items import BatchItem, check_id, read_requests
from imagegate.batch._journal import JOURNAL, RESULTS, ItemResult, Journal
from imagegate.batch._progress import Progress
from imagegate.batch._run import run

__all__ = [
    "JOURNAL",
    "RESULTS",
    "BatchItem",
    "GeminiBatch",
    "ItemResult",
    "Journal",
    "Progress",
    "check_id",
    "read_requests",
    "run",
    "run_batch_api",
]
