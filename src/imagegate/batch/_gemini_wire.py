"""Reading the Gemini Batch API's answers before google-genai builds objects from them.

A job's answer is untrusted and can be large: its items' images come back inline. The
adapter's client caps the bytes read (``max_response_bytes``), but google-genai turns
every JSON value into a Python object, a few hundred bytes each: a 3 MiB answer of
a million empty ``inlinedResponses`` takes some 600 MiB once parsed. So the job is read
as google-genai's own ``AsyncBatches.get`` reads it (``google/genai/batches.py``, 3.6:
``_api_client.async_request``, ``json.loads``, ``_BatchJob_from_mldev``,
``BatchJob._from_response``), with two checks first: at most `max_values` JSON values
(counted on the text: every ``,``, ``{`` and ``[``, an upper bound), and a ``state``
among the API's ``BATCH_STATE_*`` names (google-genai warns with the whole string for
any other). The list of jobs is read the same way, page by page, its ``nextPageToken``
checked before it goes into the next URL.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import urlencode

from google.genai import batches as sdk_batches
from google.genai import types
from google.genai.client import Client

__all__ = [
    "VALUES_BASE",
    "VALUES_PER_ITEM",
    "UnreadableAnswer",
    "job_from",
    "list_page",
    "listed",
    "read_json",
]

VALUES_PER_ITEM: Final = 2_000
"""JSON values an item's answer may take (an image answer takes about 60)."""
VALUES_BASE: Final = 2_000
"""JSON values of a job's own fields."""
_WIRE_STATES: Final = frozenset(
    f"BATCH_STATE_{s}"
    for s in ("UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")
)
"""The ``state`` names google-genai's ``t_job_state`` maps (``_transformers.py``)."""
_PAGE_TOKEN: Final = re.compile(r"[A-Za-z0-9_=+/.~-]{1,512}")


class UnreadableAnswer(Exception):
    """A Batch API answer refused before it is parsed (raised inside `GeminiBatch`)."""


async def read_json(client: Client, path: str, max_values: int) -> dict[str, Any]:
    """GET ``path`` on the client's endpoint (its key, its answer cap) as a JSON object
    of at most ``max_values`` values.

    Raises:
        UnreadableAnswer: more values, not JSON, or not an object.
        Exception: what google-genai raises for the request (an ``APIError`` …).
    """
    response = await client.aio._api_client.async_request("get", path, {}, None)
    body = response.body or ""
    values = body.count(",") + body.count("{") + body.count("[")
    if values > max_values:
        raise UnreadableAnswer(
            f"the answer holds up to {values:,} JSON values, more than the {max_values:,} expected"
        )
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        raise UnreadableAnswer("the answer is not JSON") from None
    if not isinstance(parsed, dict):
        raise UnreadableAnswer("the answer is not a JSON object")
    return parsed


def job_from(answer: dict[str, Any]) -> types.BatchJob:
    """The ``BatchJob`` google-genai makes of an Operation (an unknown state dropped)."""
    metadata = answer.get("metadata")
    if isinstance(metadata, dict) and metadata.get("state") not in _WIRE_STATES:
        answer = {**answer, "metadata": {k: v for k, v in metadata.items() if k != "state"}}
    return types.BatchJob._from_response(
        response=sdk_batches._BatchJob_from_mldev(answer), kwargs={}
    )


def list_page(page_size: int, token: str | None) -> str:
    """The path of one page of the job list (``pageSize``, ``pageToken``)."""
    query: dict[str, Any] = {"pageSize": page_size}
    if token is not None:
        query["pageToken"] = token
    return f"batches?{urlencode(query)}"


def listed(answer: dict[str, Any]) -> tuple[list[tuple[str, str]], str | None]:
    """``(name, display name)`` of each job on a page of the list, and the next page's
    token (None: the last page, or a token not fit for a URL)."""
    jobs: list[tuple[str, str]] = []
    operations = answer.get("operations")
    for operation in operations if isinstance(operations, list) else []:
        if not isinstance(operation, dict):
            continue
        metadata = operation.get("metadata")
        shown = metadata.get("displayName") if isinstance(metadata, dict) else None
        name = operation.get("name")
        if isinstance(name, str) and isinstance(shown, str):
            jobs.append((name, shown))
    token = answer.get("nextPageToken")
    usable = isinstance(token, str) and _PAGE_TOKEN.fullmatch(token) is not None
    return jobs, token if usable else None
