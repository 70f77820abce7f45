"""Who gets a conversation (SPEC §3.1.6): a pure function of a snapshot, with its reasons.

Eligible: handling role, active, online, has the conversation's channel, speaks its
language, has every required competence, and has spare capacity. Among the eligible the
least loaded wins; a tie goes to the one idle longest, then to the lowest user id, so
the same snapshot always gives the same decision.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.events import HANDLING_ROLES

#: The reasons that are about who the agent is, not about how busy or present they are.
SKILL_REASONS = frozenset({"role", "channel", "language", "competence"})


@dataclass(slots=True)
class Candidate:
    """An end user as routing sees them: anyone who could be given conversations (not only
    the spec's Agent role; Administrators and Managers handle conversations too)."""

    user_id: uuid.UUID
    role: str
    active: bool = True
    presence: str = "offline"
    channel_ids: frozenset[uuid.UUID] = frozenset()
    languages: frozenset[str] = frozenset()
    competences: frozenset[str] = frozenset()
    #: The effective capacity: the user's own (``own_capacity``) else the tenant's default.
    capacity: int = 5
    load: int = 0
    idle_since: datetime | None = None
    own_capacity: int | None = None


@dataclass(frozen=True, slots=True)
class Need:
    """What a conversation asks of its assignee.

    ``passed_over``: people this one decision must not pick (the one who let it lie).
    """

    channel_id: uuid.UUID
    language: str
    competences: frozenset[str] = frozenset()
    passed_over: frozenset[uuid.UUID] = frozenset()


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


def handles(agent: Candidate) -> bool:
    """Holds conversations at all: a handling role and not deactivated."""
    return agent.role in HANDLING_ROLES and agent.active


def is_available(agent: Candidate) -> bool:
    """Could take one more conversation of their channels and languages right now."""
    return handles(agent) and agent.presence == "online" and agent.load < agent.capacity


def has_the_competences(agent: Candidate, need: Need) -> bool:
    """Every competence the conversation needs (SPEC: routing by competence)."""
    return need.competences <= agent.competences


def was_passed_over(agent: Candidate, need: Need) -> bool:
    """Had it and did not take it in time: someone else gets it now."""
    return agent.user_id in need.passed_over


def exclusions(agent: Candidate, need: Need) -> tuple[str, ...]:
    """Every reason this agent cannot take the conversation (empty: eligible). The same
    conditions as ``handles`` and ``is_available``, one reason each, for the decision's
    explanation."""
    reasons = []
    if not handles(agent):
        reasons.append("role")
    if agent.presence != "online":
        reasons.append("presence")
    if need.channel_id not in agent.channel_ids:
        reasons.append("channel")
    if need.language not in agent.languages:
        reasons.append("language")
    if not has_the_competences(agent, need):
        reasons.append("competence")
    if agent.load >= agent.capacity:
        reasons.append("capacity")
    if was_passed_over(agent, need):
        reasons.append("not_taken")
    return tuple(reasons)


def fits(agent: Candidate, need: Need) -> bool:
    """Could this person hold the conversation at all (ignoring presence and load)?"""
    return not SKILL_REASONS.intersection(exclusions(agent, need))


def rank(agent: Candidate) -> tuple[int, float, int]:
    """Least loaded first, then idle longest (never idle counts as longest), then user id
    (as a number: the same order as the id's text, cheaper to compare)."""
    idle = agent.idle_since.timestamp() if agent.idle_since else float("-inf")
    return agent.load, idle, agent.user_id.int


def decide(
    need: Need, eligible: Iterable[Candidate], explained: Iterable[Candidate] = ()
) -> Decision:
    """The best of ``eligible`` (agents known to be eligible), with verdicts on ``explained``."""
    eligible = list(eligible)
    best = heapq.nsmallest(2, eligible, key=rank)
    known = {id(a) for a in eligible}  # their verdict is already known: nothing excludes them
    verdicts = tuple(
        Verdict(a.user_id, () if id(a) in known else exclusions(a, need), a.load)
        for a in sorted(explained, key=lambda a: a.user_id.int)
    )
    if not best:
        return Decision(None, None, verdicts)
    winner = best[0]
    tie_break = "least_loaded"
    if len(best) > 1 and best[1].load == winner.load:
        tie_break = "idle_longest" if rank(best[1])[1] != rank(winner)[1] else "stable_order"
    return Decision(winner.user_id, tie_break, verdicts)


def choose_assignee(need: Need, agents: Iterable[Candidate], explain: bool = True) -> Decision:
    """The decision over a whole snapshot, every agent's verdict included."""
    agents = list(agents)
    eligible = [a for a in agents if not exclusions(a, need)]
    return decide(need, eligible, agents if explain else ())
