"""One tenant's routing state and how each event changes it; decisions come out as events.

The state is rebuilt from the directory and conversation events only. Routing counts
its own decisions as load at once (so a burst of arrivals cannot overfill an agent).
``ConversationAssigned`` by a person (dispatch, a colleague) and ``ConversationTaken``
are the final word on who has what; ``ConversationAssigned`` by routing is only the
echo of a decision already counted, and may be older than the state, so it is ignored.

Every decision is timed by the event that caused it (or by the sweep's ``now``, an
input), never by the wall clock, and its ``event_id`` is derived from the conversation
and its round: replaying the same events into a fresh state gives the same decisions.

Competences are ids on both sides (end users' and conversations'). Routing also keeps the
tenant's competences (id -> name) and the ids of deleted ones: a deleted competence is
dropped from every conversation's needs, so nothing waits forever for a skill nobody can
get any more; and an entry of an older event that is a competence *name* is mapped to the
id of the competence that has that name (dropped when there is none: it could never be met).

A conversation is ``bot`` (a chatbot answers; not routed), ``waiting`` (in the tenant's
queue), ``assigned`` (someone must take it) or ``in_progress`` (taken). Assigned and in
progress both count in the holder's load.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pydantic import AwareDatetime, TypeAdapter

from services.routing.domain.choice import (
    Candidate,
    Decision,
    Need,
    decide,
    fits,
    has_the_competences,
    is_available,
    was_passed_over,
)
from services.routing.domain.indexes import Deadlines, Queue, Roster
from shared import events as ev
from shared.events import (
    HANDLING_ROLES,
    HELD_STATUSES,
    ConversationRouted,
    ConversationStatus,
    Envelope,
    Payload,
    id_text,
)

DECISION_NAMESPACE = uuid.UUID("c3c1d2a4-4b7e-4f0a-9a51-7d2b8e0f6a10")
#: Up to this many agents, a decision gives every agent's verdict; above, the closest ten
#: (explaining every agent of a big tenant would cost more than deciding).
EXPLAIN_ALL = 10
EXPLAIN_CLOSEST = 10


@dataclass(slots=True)
class Tracked:
    conversation_id: uuid.UUID
    need: Need
    opened_at: datetime
    #: bot, waiting, assigned or in_progress (a closed conversation is no longer tracked).
    status: ConversationStatus = ConversationStatus.WAITING
    assignee_id: uuid.UUID | None = None
    rounds: int = 0
    #: When the current holder got it: the take deadline runs from here.
    assigned_at: datetime | None = None
    #: A Manager/Administrator chose the holder: never re-routed automatically, except
    #: when the holder is deactivated or deleted (or its requirements change).
    dispatched: bool = False


@dataclass(slots=True)
class TenantRouting:
    tenant_id: uuid.UUID
    routing_enabled: bool = True
    default_capacity: int = 5
    version: int = 0
    agents: dict[uuid.UUID, Candidate] = field(default_factory=dict)
    conversations: dict[uuid.UUID, Tracked] = field(default_factory=dict)
    #: The tenant's competences, id -> name (names only to read older, name-based events).
    competences: dict[str, str] = field(default_factory=dict)
    #: Deleted competences: a need naming one of them is met without it.
    deleted_competences: set[str] = field(default_factory=set)
    dirty_agents: set[uuid.UUID] = field(default_factory=set)
    dirty_conversations: set[uuid.UUID] = field(default_factory=set)
    dirty_competences: set[str] = field(default_factory=set)
    # Derived indexes (rebuilt by ``reindex`` after a load).
    roster: Roster = field(default_factory=Roster, repr=False, compare=False)
    queue: Queue = field(default_factory=Queue, repr=False, compare=False)
    deadlines: Deadlines = field(default_factory=Deadlines, repr=False, compare=False)
    holdings: dict[uuid.UUID, set[uuid.UUID]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def reindex(self) -> None:
        """Rebuild the indexes from ``agents`` and ``conversations`` (after a load)."""
        self.roster, self.queue, self.deadlines, self.holdings = Roster(), Queue(), Deadlines(), {}
        for agent in self.agents.values():
            self.roster.update(agent)
        for tracked in self.conversations.values():
            self._file(tracked)
            if tracked.assignee_id is not None:
                self.holdings.setdefault(tracked.assignee_id, set()).add(tracked.conversation_id)

    # --- applying events -------------------------------------------------------------

    def apply(self, envelope: Envelope, payload: Payload) -> list[Envelope]:
        """The event's change to the state (an ``_on_<Type>`` method below) and the decisions
        it leads to; an event routing does not use changes nothing."""
        handler = getattr(self, f"_on_{type(payload).__name__}", None)
        return handler(envelope, payload) or [] if handler else []

    @classmethod
    def events(cls) -> tuple[type[Payload], ...]:
        """The event models :meth:`apply` uses, read from its ``_on_<Type>`` methods: the one
        list the consumer subscribes from."""
        return tuple(getattr(ev, name[4:]) for name in sorted(dir(cls)) if name.startswith("_on_"))

    def _on_TenantCreated(self, _e: Envelope, p: ev.TenantCreated) -> None:
        self.routing_enabled, self.default_capacity = p.routing_enabled, p.default_capacity

    def _on_TenantSettingsChanged(self, e: Envelope, p: ev.TenantSettingsChanged) -> list[Envelope]:
        was_enabled = self.routing_enabled
        self.routing_enabled, self.default_capacity = p.routing_enabled, p.default_capacity
        roomier = []
        for agent in sorted(self.agents.values(), key=_by_id):
            if agent.own_capacity is None and agent.capacity != p.default_capacity:
                if p.default_capacity > agent.capacity:
                    roomier.append(agent)
                agent.capacity = p.default_capacity
                self._touch(agent)
        if not self.routing_enabled:
            return []
        if not was_enabled:  # routing switched on: the shared queue is routed, oldest first
            return [self._route(self.conversations[c], e.occurred_at) for c in self._waiting()]
        out = []
        for agent in roomier:
            out += self._offer_waiting(agent, e.occurred_at)
        return out

    def _on_EndUserCreated(self, _e: Envelope, p: ev.EndUserCreated) -> None:
        agent = self.agents.get(p.user_id)  # a second copy must not reset the load
        if agent is None:
            self.agents[p.user_id] = agent = Candidate(user_id=p.user_id, role=p.role)
        self._set_profile(agent, p)

    def _on_EndUserUpdated(self, e: Envelope, p: ev.EndUserUpdated) -> list[Envelope]:
        agent = self.agents.get(p.user_id)
        if agent is None:
            return []
        self._set_profile(agent, p)
        if agent.role not in HANDLING_ROLES:  # an Analyst now: can hold no conversation
            return self._reroute_held(agent.user_id, e.occurred_at, "deactivated", True)
        return self._offer_waiting(agent, e.occurred_at)  # a new skill may fit a waiting one

    def _set_profile(self, agent: Candidate, p: ev.EndUserProfile) -> None:
        agent.role = p.role
        agent.channel_ids = frozenset(p.channel_ids)
        agent.languages = frozenset(p.languages)
        agent.competences = frozenset(p.competences)
        agent.own_capacity = p.capacity
        agent.capacity = p.capacity or self.default_capacity
        self._touch(agent)

    def _on_EndUserDeactivated(self, _e: Envelope, p: ev.EndUserDeactivated) -> list[Envelope]:
        return self._withdraw(p.user_id, p.at)

    def _on_EndUserDeleted(self, _e: Envelope, p: ev.EndUserDeleted) -> list[Envelope]:
        return self._withdraw(p.user_id, p.at)

    def _on_EndUserActivated(self, _e: Envelope, p: ev.EndUserActivated) -> list[Envelope]:
        agent = self.agents.get(p.user_id)
        if agent is None or agent.active:
            return []
        agent.active = True
        self._touch(agent)
        return self._offer_waiting(agent, p.at)

    def _withdraw(self, user_id: uuid.UUID, at: datetime) -> list[Envelope]:
        """The person can no longer hold conversations: each of theirs, dispatched or
        not, assigned or in progress, is routed again."""
        agent = self.agents.get(user_id)
        if agent is None:
            return []
        agent.active, agent.presence = False, "offline"
        self._touch(agent)
        return self._reroute_held(user_id, at, "deactivated", include_dispatched=True)

    def _on_PresenceChanged(self, _e: Envelope, p: ev.PresenceChanged) -> list[Envelope]:
        agent = self.agents.get(p.user_id)
        if agent is None:
            return []
        if p.presence == "online" and agent.presence != "online" and agent.load == 0:
            agent.idle_since = p.at
        agent.presence = p.presence
        self._touch(agent)
        if p.presence == "offline":  # what they hold goes back to routing (not dispatched ones)
            return self._reroute_held(agent.user_id, p.at, "offline", include_dispatched=False)
        return self._offer_waiting(agent, p.at)

    def _on_ConversationOpened(self, _e: Envelope, p: ev.ConversationOpened) -> list[Envelope]:
        if p.conversation_id in self.conversations:
            return []
        tracked = Tracked(
            p.conversation_id,
            Need(p.channel_id, p.language, self._competence_ids(p.required_competences)),
            p.opened_at,
            status=ConversationStatus.BOT if p.bot_active else ConversationStatus.WAITING,
        )
        self.conversations[p.conversation_id] = tracked
        self._file(tracked)
        if p.bot_active or not self.routing_enabled:
            return []  # the bot answers first / everyone takes from the shared queue
        return [self._route(tracked, p.opened_at)]

    def _on_HandoverChanged(self, _e: Envelope, p: ev.HandoverChanged) -> list[Envelope]:
        tracked = self.conversations.get(p.conversation_id)
        if tracked is None:
            return []
        if p.state == "waiting_for_human" and tracked.status == ConversationStatus.BOT:
            tracked.status = ConversationStatus.WAITING
            self._file(tracked)
            return [self._route(tracked, p.at)] if self.routing_enabled else []
        # Back to the bot: out of routing.
        if p.state == "bot" and tracked.status != ConversationStatus.BOT:
            freed = self._release(tracked, p.at)
            tracked.status, tracked.dispatched = ConversationStatus.BOT, False
            self._file(tracked)
            return self._offer_waiting(freed, p.at)
        return []  # "human": whoever paused the bot takes it (ConversationTaken follows)

    def _on_ConversationAssigned(self, _e: Envelope, p: ev.ConversationAssigned) -> list[Envelope]:
        tracked = self.conversations.get(p.conversation_id)
        if tracked is None or p.assigned_by == "routing":
            return []
        freed = None
        if tracked.assignee_id != p.assignee_id:
            freed = self._release(tracked, p.at)
            self._hold(tracked, p.assignee_id, p.at)
        tracked.status, tracked.assigned_at = ConversationStatus.ASSIGNED, p.at
        tracked.dispatched = p.assigned_by == "dispatch"
        self._file(tracked)
        # Whoever had it may now have room for a waiting conversation.
        return self._offer_waiting(freed, p.at)

    def _on_ConversationTaken(self, _e: Envelope, p: ev.ConversationTaken) -> list[Envelope]:
        tracked = self.conversations.get(p.conversation_id)
        if tracked is None:
            return []
        freed = None
        if tracked.assignee_id != p.user_id:
            freed = self._release(tracked, p.at)
            self._hold(tracked, p.user_id, p.at, status=ConversationStatus.IN_PROGRESS)
        tracked.status = ConversationStatus.IN_PROGRESS
        self._file(tracked)
        return self._offer_waiting(freed, p.at)

    def _on_ConversationRequirementsChanged(
        self, _e: Envelope, p: ev.ConversationRequirementsChanged
    ) -> list[Envelope]:
        tracked = self.conversations.get(p.conversation_id)
        if tracked is None:
            return []
        competences = self._competence_ids(p.required_competences)
        tracked.need = Need(tracked.need.channel_id, p.language, competences)
        self._file(tracked)
        if not self.routing_enabled or tracked.status == ConversationStatus.BOT:
            return []
        if tracked.status == ConversationStatus.WAITING:  # someone may fit now
            if self.choose(tracked.need, explain=False).assignee_id is None:
                return []
            return [self._route(tracked, p.at)]
        holder = self.agents.get(tracked.assignee_id) if tracked.assignee_id else None
        if holder is not None and fits(holder, tracked.need):
            return []
        replaced = tracked.assignee_id
        freed = self._release(tracked, p.at)
        out = [self._route(tracked, p.at, replaces=replaced, reason="requirements")]
        return out + self._offer_waiting(freed, p.at)

    def _on_LabelChanged(self, _e: Envelope, p: ev.LabelChanged) -> None:
        if p.kind == "competence":
            key = str(p.label_id)
            self.competences[key] = p.name
            self.dirty_competences.add(key)

    def _on_LabelDeleted(self, e: Envelope, p: ev.LabelDeleted) -> list[Envelope]:
        """Nobody can be given a deleted competence: conversations stop asking for it, and
        those that waited only for it are routed now."""
        if p.kind != "competence":
            return []
        key = str(p.label_id)
        self.competences.pop(key, None)
        self.deleted_competences.add(key)
        self.dirty_competences.add(key)
        out = []
        for tracked in sorted(self.conversations.values(), key=_by_arrival):
            if key not in tracked.need.competences:
                continue
            tracked.need = replace(tracked.need, competences=tracked.need.competences - {key})
            self._file(tracked)
            if (
                tracked.status == ConversationStatus.WAITING
                and self.routing_enabled
                and self.choose(tracked.need, explain=False).assignee_id is not None
            ):
                out.append(self._route(tracked, e.occurred_at))
        return out

    def _competence_ids(self, values: list[str]) -> frozenset[str]:
        """A conversation's required competences as ids routing can compare (see above)."""
        ids = set()
        for value in values:
            try:
                key = str(uuid.UUID(value))
            except ValueError:  # an older event: a competence's name
                key = next((i for i, name in self.competences.items() if name == value), "")
            if key and key not in self.deleted_competences:
                ids.add(key)
        return frozenset(ids)

    def _on_ConversationQueued(self, _e: Envelope, p: ev.ConversationQueued) -> list[Envelope]:
        """Put back in the queue after the last assignment routing knows of: route it again.
        An older one is the echo of a decision routing has since overtaken."""
        tracked = self.conversations.get(p.conversation_id)
        if (
            tracked is None
            or tracked.status not in HELD_STATUSES
            or tracked.assigned_at is None
            or p.at <= tracked.assigned_at
        ):
            return []
        freed = self._release(tracked, p.at)
        tracked.status, tracked.dispatched = ConversationStatus.WAITING, False
        self._file(tracked)
        out = self._offer_waiting(freed, p.at)
        if (
            tracked.status == ConversationStatus.WAITING
            and self.routing_enabled
            and self.choose(tracked.need, explain=False).assignee_id is not None
        ):
            out.append(self._route(tracked, p.at))
        return out

    def _on_ConversationClosed(self, _e: Envelope, p: ev.ConversationClosed) -> list[Envelope]:
        return self._forget(p.conversation_id, p.at)

    def _on_ConversationArchived(self, _e: Envelope, p: ev.ConversationArchived) -> list[Envelope]:
        return self._forget(p.conversation_id, p.at)

    def _forget(self, conversation_id: uuid.UUID, at: datetime) -> list[Envelope]:
        tracked = self.conversations.pop(conversation_id, None)
        if tracked is None:
            return []
        self.dirty_conversations.add(conversation_id)
        self.queue.discard(conversation_id)
        self.deadlines.discard(conversation_id)
        return self._offer_waiting(self._release(tracked, at), at)

    # --- the take deadline -------------------------------------------------------------

    def sweep(self, now: datetime, take_timeout: timedelta) -> list[Envelope]:
        """Conversations assigned at least ``take_timeout`` ago and still not taken go to
        someone else eligible; with nobody else, they stay and are looked at again later."""
        if not self.routing_enabled:
            return []
        out = []
        for conversation_id in self.deadlines.assigned_up_to(now - take_timeout):
            tracked = self.conversations[conversation_id]
            late = tracked.assignee_id
            if late is None or tracked.status != ConversationStatus.ASSIGNED or tracked.dispatched:
                continue
            need = replace(tracked.need, passed_over=frozenset({late}))
            if self.choose(need, explain=False).assignee_id is None:
                continue
            freed = self._release(tracked, now)
            out.append(self._route(tracked, now, replaces=late, reason="not_taken", need=need))
            out += self._offer_waiting(freed, now)
        return out

    # --- deciding --------------------------------------------------------------------

    def choose(self, need: Need, explain: bool = True) -> Decision:
        """The decision over the agents available for the need's channel and language.

        The index keeps them best first, so this stops at the first few who have the
        competences: a decision costs the same with ten agents or a thousand."""
        wanted = EXPLAIN_CLOSEST if explain else 2
        best: list[Candidate] = []
        # The index answers role, presence, load, channel and language; the rest of the rule
        # (choice.exclusions) is asked here.
        for user_id in self.roster.available_for(need):
            agent = self.agents[user_id]
            if has_the_competences(agent, need) and not was_passed_over(agent, need):
                best.append(agent)
                if len(best) == wanted:
                    break
        if not explain:
            return decide(need, best)
        if len(self.agents) <= EXPLAIN_ALL:
            explained: list[Candidate] = list(self.agents.values())
        elif best:
            explained = best
        else:  # nobody: those who have the channel and the language came closest
            ids = self.roster.skilled_for(need, EXPLAIN_CLOSEST)
            explained = [self.agents[i] for i in ids]
        return decide(need, best, explained)

    def _route(
        self,
        tracked: Tracked,
        at: datetime,
        replaces: uuid.UUID | None = None,
        reason: str | None = None,
        need: Need | None = None,
    ) -> Envelope:
        """Decide for a conversation nobody holds (any holder was released before)."""
        if not self.routing_enabled:
            decision = Decision(None, None)
        else:
            decision = self.choose(need or tracked.need)
        tracked.dispatched = False
        if decision.assignee_id is not None:
            self._hold(tracked, decision.assignee_id, at)
        else:
            tracked.status = ConversationStatus.WAITING
        self._file(tracked)
        return self._decision_event(tracked, decision, at, replaces, reason)

    def _reroute_held(
        self, user_id: uuid.UUID, at: datetime, reason: str, include_dispatched: bool
    ) -> list[Envelope]:
        held = [self.conversations[c] for c in self.holdings.get(user_id, ())]
        out = []
        for tracked in sorted(held, key=_by_arrival):
            if tracked.dispatched and not include_dispatched:
                continue
            self._release(tracked, at)
            out.append(self._route(tracked, at, replaces=user_id, reason=reason))
        return out

    def _waiting(self) -> list[uuid.UUID]:
        return self.queue.oldest_first()

    def _offer_waiting(self, agent: Candidate | None, at: datetime) -> list[Envelope]:
        """Give an agent with room the oldest waiting conversations they can take."""
        out: list[Envelope] = []
        while agent is not None and self.routing_enabled and is_available(agent):
            room = agent.capacity - agent.load
            picks = []
            for conversation_id in self.queue.for_agent(agent):
                tracked = self.conversations[conversation_id]
                if tracked.need.competences <= agent.competences:
                    picks.append(tracked)
                    if len(picks) == room:
                        break
            routed = [self._route(tracked, at) for tracked in picks]
            if not any(tracked.status != ConversationStatus.WAITING for tracked in picks):
                break  # nothing fits (or, defensively, nothing could be placed)
            out += routed
        return out

    # --- bookkeeping -----------------------------------------------------------------

    def _touch(self, agent: Candidate) -> None:
        self.roster.update(agent)
        self.dirty_agents.add(agent.user_id)

    def _file(self, tracked: Tracked) -> None:
        """Keep the queue and the take deadlines in step with the conversation's status."""
        cid = tracked.conversation_id
        if tracked.status == ConversationStatus.WAITING:
            self.queue.add(cid, tracked.opened_at, tracked.need)
        else:
            self.queue.discard(cid)
        if (
            tracked.status == ConversationStatus.ASSIGNED
            and not tracked.dispatched
            and tracked.assigned_at
        ):
            self.deadlines.set(cid, tracked.assigned_at)
        else:
            self.deadlines.discard(cid)
        self.dirty_conversations.add(cid)

    def _hold(
        self,
        tracked: Tracked,
        assignee_id: uuid.UUID,
        at: datetime,
        status: ConversationStatus = ConversationStatus.ASSIGNED,
    ) -> None:
        tracked.assignee_id, tracked.status, tracked.assigned_at = assignee_id, status, at
        self.holdings.setdefault(assignee_id, set()).add(tracked.conversation_id)
        agent = self.agents.get(assignee_id)
        if agent is not None:
            agent.load += 1
            self._touch(agent)
        self._file(tracked)

    def _release(self, tracked: Tracked, at: datetime | None = None) -> Candidate | None:
        if tracked.assignee_id is None:
            return None
        self.holdings.get(tracked.assignee_id, set()).discard(tracked.conversation_id)
        agent = self.agents.get(tracked.assignee_id)
        if agent is not None and agent.load > 0:
            agent.load -= 1
            if agent.load == 0 and at is not None:
                agent.idle_since = at
            self._touch(agent)
        tracked.assignee_id = None
        self.dirty_conversations.add(tracked.conversation_id)
        return agent

    def _decision_event(
        self,
        tracked: Tracked,
        decision: Decision,
        at: datetime,
        replaces: uuid.UUID | None = None,
        reason: str | None = None,
    ) -> Envelope:
        tracked.rounds += 1
        self.dirty_conversations.add(tracked.conversation_id)
        # The payload is written as the contract's JSON directly: a model per decision would
        # cost more than the decision (tests check it against ``ConversationRouted``).
        payload = {
            "conversation_id": str(tracked.conversation_id),
            "assignee_id": _text(decision.assignee_id),
            "replaces_assignee_id": _text(replaces),
            "reroute_reason": reason,
            "tie_break": decision.tie_break,
            "candidates": [
                {"user_id": id_text(v.user_id), "excluded_by": list(v.excluded_by), "load": v.load}
                for v in decision.verdicts
            ],
            "decided_at": _JSON_TIME.dump_python(at, mode="json"),
        }
        return Envelope(
            event_id=uuid.uuid5(DECISION_NAMESPACE, f"{tracked.conversation_id}/{tracked.rounds}"),
            type=ConversationRouted.__name__,
            tenant_id=self.tenant_id,
            occurred_at=at,
            causation_id=tracked.conversation_id,
            payload=payload,
        )


_JSON_TIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _text(user_id: uuid.UUID | None) -> str | None:
    return None if user_id is None else id_text(user_id)


def _by_id(agent: Candidate) -> int:
    return agent.user_id.int


def _by_arrival(tracked: Tracked) -> tuple[datetime, int]:
    return tracked.opened_at, tracked.conversation_id.int
