"""Keep secrets out of text: exception messages, log events, reprs.

Two nets: every key an adapter is configured with is registered here and replaced
wherever it appears verbatim, and anything shaped like a key (Google ``AIza…``, OpenAI
``sk-…``, partial keys such as ``sk-abc***xyz`` or ``sk-abc...xyz``, ``Bearer …``,
``key=…`` query parameters, key headers) is masked even when it was never registered.
The words around a key stay: OpenAI's "Incorrect API key provided: sk-zhj0s****CMuq. You
can find your API key at https://platform.openai.com/account/api-keys." reads "Incorrect
API key provided: [REDACTED]. You can find your API key at …".

A value after ``Bearer`` or after a key header name (``x-goog-api-key:``, ``api_key=`` …)
is masked unless it is a plain word: letters only and shorter than 20, the way a sentence
goes on ("invalid_api_key: Incorrect API key provided") and a credential does not. A header
name only counts on its own, not as the tail of a longer identifier (``invalid_api_key``).

`render_traceback` turns an exception into the text a log may carry: the standard
traceback (type, message and the file and line of each frame, never a local variable),
redacted.
"""

from __future__ import annotations

import re
import sys
import threading
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from pydantic import SecretStr

__all__ = ["REDACTED", "redact", "redact_event", "register_secret", "render_traceback"]

REDACTED: Final = "[REDACTED]"

# Masked wherever they appear. A partial key ("sk-zhj0s****CMuq", "sk-abc...xyz", as
# OpenAI's wrong-key message echoes it) still shows characters of the real key: masked too.
_PATTERNS: Final = (
    re.compile(r"\b(?:sk-|AIza)[A-Za-z0-9_\-]*(?:\*{2,}|\.{3,}|…)[A-Za-z0-9_\-]*"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)([?&](?:key|api_key|apikey|token|sig)=)[^&\s'\"]+"),
)
# The value (group 2) is masked unless it is a plain word.
_LABELLED: Final = (
    re.compile(
        r"(?i)((?<![\w-])(?:x-goog-api-key|x-key|authorization|api[-_]key)['\"]?\s*[:=]\s*['\"]?)"
        r"([^\s,'\"}]+)"
    ),
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=\-]{8,})"),
)
_PLAIN_WORD: Final = re.compile(r"[A-Za-z]{1,19}[.:;!?)]*")  # punctuation may end a word
# What every pattern above needs somewhere in the text (matched without case, so a
# superset): a text without any of it has nothing to mask but registered secrets. Most
# texts are like that (an answer's metadata: a finish reason, a model name, an id), and
# one search costs a fraction of the six.
_MAYBE: Final = re.compile(
    r"(?i)sk-|aiza|[?&](?:key|api_key|apikey|token|sig)=|x-goog-api-key|x-key"
    r"|authorization|api[-_]key|bearer"
)
_MIN_SECRET_LEN: Final = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()  # `_secrets`, replaced whole under the lock


def register_secret(secret: str | SecretStr | None) -> None:
    """Remember a secret so that `redact` removes it wherever it appears verbatim."""
    global _longest_first
    if secret is None:
        return
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if len(value) >= _MIN_SECRET_LEN:
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and key-shaped strings masked."""
    if not text:
        return text
    for secret in _longest_first:  # one tuple, read whole: no lock needed
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _MAYBE.search(text) is None:
        return text
    return _masked(text)


def _masked(text: str) -> str:
    """``text`` with every key-shaped string masked (what `redact` does after the
    registered secrets, when `_MAYBE` finds something a pattern may match)."""
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return _mask_labelled(text)


def _mask_labelled(text: str) -> str:
    """Mask the value after every label that is not a plain word.

    Matches may overlap (``authorization: x-goog-api-key: AIza…``: the first label's value
    is the second label), so each search resumes at the value, and the spans are masked
    together at the end.
    """
    spans: list[tuple[int, int]] = []
    for pattern in _LABELLED:
        pos = 0
        while (match := pattern.search(text, pos)) is not None:
            value = match.group(2)
            if not _PLAIN_WORD.fullmatch(value) and value != REDACTED:
                spans.append(match.span(2))
            pos = match.start(2)
    if not spans:
        return text
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if start >= done:  # an overlapping span extends the mask already written
            out += [text[done:start], REDACTED]
        done = max(done, end)
    out.append(text[done:])
    return "".join(out)


def render_traceback(exc: BaseException) -> str:
    """``exc`` and its causes as a redacted standard traceback, without any local variable.

    Logging this text instead of passing the exception as ``exc_info`` keeps renderers
    that show frame locals (rich, structlog's ``dict_tracebacks``) away from the live frames,
    where request headers hold keys.
    """
    return redact("".join(traceback.format_exception(exc)))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(f"{type(value).__name__}: {value}")
    return value


def redact_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """A structlog processor that masks secrets in every value of an event.

    An ``exc_info`` (an exception, a ``sys.exc_info()`` tuple, or True for the exception
    being handled) is replaced by ``exception``, its `render_traceback` text: the renderers
    after this one never see a live traceback, so they cannot show its frames' locals.
    """
    event = dict(event_dict)
    exc_info = event.pop("exc_info", None)
    if exc_info:
        exc = _exception_of(exc_info)
        if exc is not None:
            event["exception"] = render_traceback(exc)
    return {key: _redact_value(value) for key, value in event.items()}


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1]
