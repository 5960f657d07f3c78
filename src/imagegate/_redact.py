"""Keep secrets out of text: exception messages, log events, reprs.

Two nets: every key an adapter is configured with is registered here and replaced
wherever it appears verbatim, and anything shaped like a key (Google ``AIza…``, OpenAI
``sk-…``, ``Bearer …``, ``key=…`` query parameters, key headers) is masked even when it
was never registered.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from pydantic import SecretStr

__all__ = ["REDACTED", "redact", "redact_event", "register_secret"]

REDACTED: Final = "[REDACTED]"

_PATTERNS: Final = (
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?i)([?&](?:key|api_key|apikey|token|sig)=)[^&\s'\"]+"),
    re.compile(
        r"(?i)((?:x-goog-api-key|x-key|authorization|api[-_]key)['\"]?\s*[:=]\s*['\"]?)[^\s,'\"}]+"
    ),
)
_MIN_SECRET_LEN: Final = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str | SecretStr | None) -> None:
    """Remember a secret so that `redact` removes it wherever it appears verbatim."""
    if secret is None:
        return
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and key-shaped strings masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


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
    """A structlog processor that masks secrets in every value of an event."""
    return {key: _redact_value(value) for key, value in event_dict.items()}
