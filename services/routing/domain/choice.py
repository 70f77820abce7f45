"""Who gets a conversation (SPEC §3.1.6): a pure function of a snapshot, with its reasons.

Eligible: handling role, active, online, has the conversation's channel, speaks its
language, has every required competence, and has spare capacity. Among the eligible the
least loaded wins; a tie goes to the one idle longest, then to the lowest user id, so
the same snapshot always gives the same decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.events import HANDLING_ROLES


@dataclass(slots=True)
class Agent:
    user_id: uuid.UUID
    role: str
    active: bool = True
    presence: str = "offline"
    channel_ids: frozenset[uuid.UUID] = frozenset()
    languages: frozenset[str] = frozenset()
    competences: frozenset[str] = frozenset()
    capacity: int = 5
    load: int = 0
    idle_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Need:
    """What a conversation asks of its assignee."""

    channel_id: uuid.UUID
    language: str
    competences: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Verdict:
    user_id: uuid.UUID
    excluded_by: tuple[str, ...]
    load: int


@dataclass(frozen=True, slots=True)
class Decision:
    assignee_id: uuid.UUID | None
    tie_break: str | None
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)


def exclusions(agent: Agent, need: Need) -> tuple[str, ...]:
    """Every reason this agent cannot take the conversation (empty: eligible)."""
    reasons = []
    if agent.role not in HANDLING_ROLES or not agent.active:
        reasons.append("role")
    if agent.presence != "online":
        reasons.append("presence")
    if need.channel_id not in agent.channel_ids:
        reasons.append("channel")
    if need.language not in agent.languages:
        reasons.append("language")
    if not need.competences <= agent.competences:
        reasons.append("competence")
    if agent.load >= agent.capacity:
        reasons.append("capacity")
    return tuple(reasons)


def _idle_key(agent: Agent) -> float:
    return agent.idle_since.timestamp() if agent.idle_since else float("-inf")


def choose_assignee(need: Need, agents: Iterable[Agent], explain: bool = True) -> Decision:
    verdicts: list[Verdict] = []
    eligible: list[Agent] = []
    for agent in agents:
        reasons = exclusions(agent, need)
        if explain:
            verdicts.append(Verdict(agent.user_id, reasons, agent.load))
        if not reasons:
            eligible.append(agent)
    if not eligible:
        return Decision(None, None, tuple(verdicts))
    eligible.sort(key=lambda a: (a.load, _idle_key(a), str(a.user_id)))
    winner = eligible[0]
    tie_break = "least_loaded"
    if len(eligible) > 1 and eligible[1].load == winner.load:
        tie_break = (
            "idle_longest" if _idle_key(eligible[1]) != _idle_key(winner) else "stable_order"
        )
    return Decision(winner.user_id, tie_break, tuple(verdicts))
