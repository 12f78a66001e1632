"""A decision made real: compare-and-swap on the aliases, then an EventBridge event.

Promote: the champion alias is swapped from the version the rollout started against to the
challenger, then the challenger alias is marked "promoted". Reject: the challenger alias is
marked "rejected"; the champion never moved. The event goes out only from the run whose swap
of the challenger alias won, so when two monitor runs decide the same rollout at once, or a
window is monitored again, exactly one event is sent and nothing is changed twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelops.errors import StaleAliasError
from modelops.registry import CHAMPION, Challenger, ChallengerStage, ModelRegistry
from modelops.rollout.decision import PROMOTE, REJECT, Decision

EVENT_SOURCE = "modelops.rollout"
MODEL_PROMOTED = "ModelPromoted"
CHALLENGER_REJECTED = "ChallengerRejected"


@dataclass(frozen=True)
class Outcome:
    """What applying a decision did: promoted, rejected, observing, or already-decided
    (another run decided this rollout first; nothing written here)."""

    action: str
    champion_version: int | None
    challenger_version: int
    reason: str
    event_sent: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "reason": self.reason,
            "event_sent": self.event_sent,
        }


class RolloutApplier:
    def __init__(
        self,
        registry: ModelRegistry,
        *,
        events_client: Any,
        event_bus: str = "default",
        actor: str = "modelops-monitor",
    ) -> None:
        self.registry = registry
        self.stage = ChallengerStage(registry)
        self._events = events_client
        self.event_bus = event_bus
        self.actor = actor

    def apply(
        self,
        name: str,
        challenger: Challenger,
        decision: Decision,
        *,
        window: dict[str, Any] | None = None,
    ) -> Outcome:
        """Apply `decision` about `challenger` as read before deciding."""
        if decision.action == REJECT:
            return self._reject(name, challenger, decision, window)
        if decision.action == PROMOTE:
            return self._promote(name, challenger, decision, window)
        return Outcome(
            "observing", challenger.champion_version, challenger.version, decision.reason
        )

    def _reject(
        self, name: str, challenger: Challenger, decision: Decision, window: dict[str, Any] | None
    ) -> Outcome:
        try:
            self._end(name, challenger, "rejected", decision)
        except StaleAliasError:
            return self._already_decided(name, challenger)
        champion = self.registry.get_alias(name, CHAMPION)
        self._announce(CHALLENGER_REJECTED, name, challenger, decision, window)
        return Outcome(
            "rejected",
            None if champion is None else champion.version,
            challenger.version,
            decision.reason,
            event_sent=True,
        )

    def _promote(
        self, name: str, challenger: Challenger, decision: Decision, window: dict[str, Any] | None
    ) -> Outcome:
        champion = self.registry.get_alias(name, CHAMPION)
        moved = False
        if champion is None or champion.version != challenger.version:
            if champion is None or champion.version != challenger.champion_version:
                # The champion was changed by hand during the rollout: the evidence compared
                # the challenger with a version that no longer serves. Stop, champion kept.
                now = "nothing" if champion is None else f"v{champion.version}"
                stopped = Decision(
                    REJECT,
                    f"the champion changed during the rollout (v{challenger.champion_version} "
                    f"-> {now}); the evidence no longer applies",
                    decision.statistics,
                )
                return self._reject(name, challenger, stopped, window)
            try:
                self.registry.set_alias(
                    name,
                    CHAMPION,
                    challenger.version,
                    expected=champion,
                    reason=f"challenger promoted on live evidence: {decision.reason}",
                    actor=self.actor,
                    details={"rollout": challenger.rollout(), "decision": decision.as_dict()},
                )
                moved = True
            except StaleAliasError:
                champion = self.registry.get_alias(name, CHAMPION)
                if champion is None or champion.version != challenger.version:
                    return self._already_decided(name, challenger)
        try:
            self._end(name, challenger, "promoted", decision)
        except StaleAliasError:
            latest = self.stage.read(name)
            # Someone else finished this promotion: theirs is the event. If the record was
            # ended otherwise (an operator's abort raced us) the champion still moved here.
            if not moved or (
                latest is not None
                and latest.version == challenger.version
                and latest.status == "promoted"
            ):
                return self._already_decided(name, challenger)
        self._announce(MODEL_PROMOTED, name, challenger, decision, window)
        return Outcome(
            "promoted", challenger.version, challenger.version, decision.reason, event_sent=True
        )

    def _end(self, name: str, challenger: Challenger, status: str, decision: Decision) -> None:
        """End the rollout by CAS on the challenger alias (StaleAliasError: another run did)."""
        self.stage.end(
            name,
            challenger,
            status=status,
            reason=decision.reason,
            decision=decision.as_dict(),
            actor=self.actor,
        )

    def _already_decided(self, name: str, challenger: Challenger) -> Outcome:
        latest = self.stage.read(name)
        champion = self.registry.get_alias(name, CHAMPION)
        status = "gone" if latest is None else f"v{latest.version} {latest.status}"
        return Outcome(
            "already-decided",
            None if champion is None else champion.version,
            challenger.version,
            f"the rollout of v{challenger.version} was changed by another run (now {status})",
        )

    def _announce(
        self,
        detail_type: str,
        name: str,
        challenger: Challenger,
        decision: Decision,
        window: dict[str, Any] | None,
    ) -> None:
        previous = challenger.champion_version
        detail = {
            "model": name,
            "challenger_version": challenger.version,
            "champion_version": challenger.version if detail_type == MODEL_PROMOTED else previous,
            "previous_champion_version": previous if detail_type == MODEL_PROMOTED else None,
            "mode": challenger.mode,
            "reason": decision.reason,
            "statistics": decision.statistics,
            "window": window,
        }
        response = self._events.put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, sort_keys=True, default=str),
                    "EventBusName": self.event_bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(
                f"EventBridge refused the {detail_type} event: {response['Entries']}"
            )
