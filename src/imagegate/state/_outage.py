"""`Outage`: what `RedisState` knows of Redis not answering and of corrupt records — since
when, the last error, when to try again — and the warnings it logs about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Outage"]


class Outage:
    """Degraded mode and corrupt keys of one backend.

    Args:
        prefix: The backend's key prefix (for the log).
        retry_interval_s: Real seconds between attempts to reach Redis while degraded.
        warn_interval_s: Real seconds between two warnings of one kind (per key for a
            corrupt record).
        timer: Real monotonic seconds.
        log: Where the warnings go.
    """

    __slots__ = (
        "_corrupt",
        "_last_warned",
        "_log",
        "_retry_interval_s",
        "_timer",
        "_warn_interval_s",
        "last_error",
        "next_retry",
        "outages",
        "prefix",
        "recoveries",
        "recovering",
        "since",
    )

    def __init__(
        self,
        *,
        prefix: str,
        retry_interval_s: float,
        warn_interval_s: float,
        timer: Callable[[], float],
        log: Any,
    ) -> None:
        self.prefix = prefix
        self._retry_interval_s = retry_interval_s
        self._warn_interval_s = warn_interval_s
        self._timer = timer
        self._log = log
        self._corrupt: dict[str, float] = {}  # key -> when its corruption was last logged
        self._last_warned: float | None = None
        self.since: float | None = None  # the timer's reading when it became degraded
        self.next_retry = 0.0
        self.last_error = ""
        self.recovering = False
        self.outages = 0
        self.recoveries = 0

    def retry_due(self) -> bool:
        """Whether to try Redis again now (while degraded): not already trying, and
        ``retry_interval_s`` after the last failure."""
        return not self.recovering and self._timer() >= self.next_retry

    def degraded_for_s(self) -> float:
        """Real seconds since it became degraded (0.0 when not)."""
        return 0.0 if self.since is None else max(0.0, self._timer() - self.since)

    def failed(self, exc: BaseException) -> None:
        """Redis did not answer: degraded until it does (a warning at most once per
        ``warn_interval_s``)."""
        now = self._timer()
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.next_retry = now + self._retry_interval_s
        if self.since is None:
            self.since = now
            self.outages += 1
        if self._last_warned is None or now - self._last_warned >= self._warn_interval_s:
            self._last_warned = now
            self._log.warning(
                "state.degraded",
                backend="redis",
                prefix=self.prefix,
                error=self.last_error,
                retry_in_s=self._retry_interval_s,
                note="deciding on local state until Redis answers again",
            )

    def recovered(self) -> None:
        """Redis answers again and the local changes are merged."""
        since = self.since
        outage_s = 0.0 if since is None else self._timer() - since
        self.since = None
        self.recoveries += 1
        self._log.warning(
            "state.recovered", backend="redis", prefix=self.prefix, outage_s=round(outage_s, 3)
        )

    def corrupted(self, key: str, rkey: str, exc: BaseException) -> None:
        """The record of ``key`` (Redis key ``rkey``) is corrupt: that key is decided on
        locally (an error logged at most once per ``warn_interval_s`` per key)."""
        now = self._timer()
        self.last_error = f"{type(exc).__name__}: {exc}"
        last = self._corrupt.get(key)
        if last is None or now - last >= self._warn_interval_s:
            self._corrupt[key] = now
            self._log.error(
                "state.corrupt_record",
                backend="redis",
                key=rkey,
                error=self.last_error,
                note="deciding on local state for this key until the record is repaired, "
                "deleted or expires",
            )

    def is_corrupt(self, key: str) -> bool:
        """Whether ``key``'s record was last found corrupt."""
        return key in self._corrupt

    def repaired(self, key: str, rkey: str) -> None:
        """The record of ``key`` (Redis key ``rkey``) answered again."""
        del self._corrupt[key]
        self._log.warning("state.record_repaired", backend="redis", key=rkey)

    def merge_lost(self, rkey: str, exc: BaseException) -> None:
        """What ``rkey``'s record changed locally could not be added to the shared one."""
        self._log.error("state.merge_lost", backend="redis", key=rkey, error=str(exc))
