"""Google's finish and block reasons, and what each one means for an answer without an
image: one table for `gemini`, `vertex` and `openai_compatible` (an aggregator forwards
Gemini's reason as ``native_finish_reason`` while its own ``finish_reason`` says
``"stop"``).

The names are google-genai's ``types.FinishReason`` and ``types.BlockedReason`` enums
(googleapis/python-genai, ``google/genai/types.py``; the same lists are in the Vertex AI
reference, cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/
GenerateContentResponse)::

    blocked     a safety or policy system withheld the answer    ContentBlocked, not retried
                SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY,
                IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION, MODEL_ARMOR, ESCALATION,
                PUP_LIMITED_DISABLED (and every BlockedReason, JAILBREAK included)
    no_image    the model ended without an image; a retry may    NoImageReturned, retried
                give one: STOP, NO_IMAGE, IMAGE_OTHER, MAX_TOKENS, OTHER,
                MALFORMED_RESPONSE, CONTINUATION, FINISH_REASON_UNSPECIFIED, and any
                reason this table does not know yet
    other       it ended for a reason the same request will      NoImageReturned, not
                meet again (a language the model refuses, tool    retried on this route
                calls an image request never makes)

Whether such an answer is billed: see `billing_without_image`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from imagegate.errors import Billing

__all__ = ["REASONS", "Verdict", "billing_without_image", "output_tokens", "verdict"]

Verdict = Literal["blocked", "no_image", "other"]
"""What an answer without an image means (see the module docstring)."""

_BLOCKS: Final = (
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "MODEL_ARMOR", "ESCALATION",
    "PUP_LIMITED_DISABLED", "JAILBREAK", "BLOCKED_REASON_UNSPECIFIED",
)  # fmt: skip
_NO_IMAGE: Final = (
    "STOP", "NO_IMAGE", "IMAGE_OTHER", "MAX_TOKENS", "OTHER", "MALFORMED_RESPONSE",
    "CONTINUATION", "FINISH_REASON_UNSPECIFIED",
)  # fmt: skip
_OTHER: Final = (
    "LANGUAGE", "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
    "MISSING_THOUGHT_SIGNATURE",
)  # fmt: skip

REASONS: Final[Mapping[str, Verdict]] = {
    **dict.fromkeys(_BLOCKS, "blocked"),
    **dict.fromkeys(_NO_IMAGE, "no_image"),
    **dict.fromkeys(_OTHER, "other"),
}
"""Every FinishReason and BlockedReason name google-genai knows, and its `Verdict`.
``OTHER`` is read as a finish reason here; as a prompt's ``blockReason`` it is a block,
like every block reason."""

_NOT_CHARGED: Final = "you will not be charged"
"""What Google's ``finishMessage`` says when it waives a failed image's price."""


def verdict(reason: str | None) -> Verdict:
    """What the finish reason ``reason`` says about an answer without an image; unknown
    names are ``"no_image"``. (A prompt's ``blockReason``, whatever its name, is a block.)"""
    return REASONS.get(reason.upper(), "no_image") if reason is not None else "no_image"


def billing_without_image(
    output_tokens: int | None, message: str | None, *, default: Billing
) -> Billing:
    """Whether an HTTP 200 answer without an image is charged for.

    Google bills the Gemini API by tokens and charges nothing only for a request that
    fails with a 4xx or 5xx (ai.google.dev/gemini-api/docs/billing, "Am I charged for
    failed requests?"). So:

    - a ``finishMessage`` saying "You will not be charged for this request" (Google's
      words on image answers it withholds) is ``"not_billed"``;
    - output tokens counted (``usageMetadata.candidatesTokenCount`` > 0: the image or
      text was generated, then withheld) are ``"billed"``;
    - zero output tokens counted are ``"not_billed"`` (what remains, the prompt and any
      thinking tokens, is a fraction of a cent, not the image's price);
    - no count at all: ``default``.
    """
    if message is not None and _NOT_CHARGED in message.lower():
        return "not_billed"
    if output_tokens is None:
        return default
    return "billed" if output_tokens > 0 else "not_billed"


def output_tokens(usage: Mapping[str, object] | None, *keys: str) -> int | None:
    """The first of ``keys`` in ``usage`` that holds a non-negative int, else None."""
    if usage is None:
        return None
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
