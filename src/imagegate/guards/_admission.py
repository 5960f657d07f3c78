"""`AdmissionGuard`: the router's `AdmissionPolicy`, as a guard.

While a smaller size is still allowed, an option whose optimistic success estimate is
below the policy's threshold is skipped and the request steps down instead
(`imagegate.resilience.admission` has the formula). Without a policy it lets everything
through.
"""

from __future__ import annotations

from imagegate.guards._guard import Check, Guard

__all__ = ["AdmissionGuard"]


class AdmissionGuard(Guard):
    """Skips an option estimated too unlikely to succeed while a smaller size is allowed."""

    __slots__ = ()

    def peek(self, check: Check) -> str | None:
        """``"estimated success …% (at best …%) too low"``, or None."""
        policy = check.engine.admission
        if policy is None or not check.can_step_down:  # nothing smaller: always admitted
            return None
        estimate, upper = check.success_estimates()
        if not policy.admits(upper, can_step_down=check.can_step_down):
            return f"estimated success {estimate:.0%} (at best {upper:.0%}) too low"
        return None
