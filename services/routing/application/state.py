"""One tenant's routing state and how each event changes it; decisions come out as events.

The state is rebuilt from the directory and conversation events only. Routing counts
its own decisions as load at once (so a burst of arrivals cannot overfill an agent) and
takes ``ConversationAssigned`` as the final word on who has what.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from services.routing.domain.choice import Agent, Decision, Need, choose_assignee, exclusions
from shared import events as ev
from shared.events import CandidateVerdict, ConversationRouted, Envelope, Payload

DECISION_NAMESPACE = uuid.UUID("c3c1d2a4-4b7e-4f0a-9a51-7d2b8e0f6a10")


@dataclass(slots=True)
class Tracked:
    conversation_id: uuid.UUID
    need: Need
    opened_at: datetime
    status: str = "waiting"  # waiting | assigned
    assignee_id: uuid.UUID | None = None
    rounds: int = 0


@dataclass(slots=True)
class TenantRouting:
    tenant_id: uuid.UUID
    routing_enabled: bool = True
    default_capacity: int = 5
    version: int = 0
    agents: dict[uuid.UUID, Agent] = field(default_factory=dict)
    conversations: dict[uuid.UUID, Tracked] = field(default_factory=dict)
    dirty_agents: set[uuid.UUID] = field(default_factory=set)
    dirty_conversations: set[uuid.UUID] = field(default_factory=set)

    # --- applying events -------------------------------------------------------------

    def apply(self, envelope: Envelope, payload: Payload) -> list[Envelope]:
        handler = getattr(self, f"_on_{type(payload).__name__}", None)
        return handler(envelope, payload) or [] if handler else []

    def _on_TenantCreated(self, _e: Envelope, p: ev.TenantCreated) -> None:
        self.routing_enabled, self.default_capacity = p.routing_enabled, p.default_capacity

    def _on_EndUserCreated(self, _e: Envelope, p: ev.EndUserCreated) -> None:
        self.agents[p.user_id] = Agent(
            user_id=p.user_id,
            role=p.role,
            channel_ids=frozenset(p.channel_ids),
            languages=frozenset(p.languages),
            competences=frozenset(p.competences),
            capacity=p.capacity or self.default_capacity,
        )
        self.dirty_agents.add(p.user_id)

    def _on_TenantSettingsChanged(self, e: Envelope, p: ev.TenantSettingsChanged) -> list[Envelope]:
        was_enabled = self.routing_enabled
        self.routing_enabled, self.default_capacity = p.routing_enabled, p.default_capacity
        if was_enabled or not self.routing_enabled:
            return []
        out = []  # routing switched on: the shared queue is routed, oldest first
        for tracked in self._waiting():
            out.append(self._route(tracked, e.occurred_at))
        return out

    def _on_EndUserUpdated(self, e: Envelope, p: ev.EndUserUpdated) -> list[Envelope]:
        agent = self.agents.get(p.user_id)
        if agent is None:
            return []
        agent.role = p.role
        agent.channel_ids = frozenset(p.channel_ids)
        agent.languages = frozenset(p.languages)
        agent.competences = frozenset(p.competences)
        agent.capacity = p.capacity or self.default_capacity
        self.dirty_agents.add(agent.user_id)
        return self._offer_waiting(agent, e.occurred_at)  # a new skill may fit a waiting one

    def _on_EndUserDeactivated(self, _e: Envelope, p: ev.EndUserDeactivated) -> list[Envelope]:
        return self._withdraw(p.user_id, p.at, active=False)

    def _on_EndUserDeleted(self, _e: Envelope, p: ev.EndUserDeleted) -> list[Envelope]:
        return self._withdraw(p.user_id, p.at, active=False)

    def _on_EndUserActivated(self, _e: Envelope, p: ev.EndUserActivated) -> None:
        agent = self.agents.get(p.user_id)
        if agent is not None and not agent.active:
            agent.active = True
            self.dirty_agents.add(agent.user_id)

    def _withdraw(self, user_id: uuid.UUID, at: datetime, active: bool) -> list[Envelope]:
        """The agent can no longer hold conversations: each of theirs is routed again."""
        agent = self.agents.get(user_id)
        if agent is None:
            return []
        agent.active, agent.presence = active, "offline"
        self.dirty_agents.add(user_id)
        out = []
        for tracked in sorted(self.conversations.values(), key=_by_arrival):
            if tracked.assignee_id == user_id:
                self._release(tracked, at)
                tracked.status = "waiting"
                out.append(self._route(tracked, at, replaces=user_id))
        return out

    def _on_PresenceChanged(self, _e: Envelope, p: ev.PresenceChanged) -> list[Envelope]:
        agent = self.agents.get(p.user_id)
        if agent is None:
            return []
        agent.presence = p.presence
        if p.presence == "online" and agent.load == 0:
            agent.idle_since = p.at
        self.dirty_agents.add(agent.user_id)
        return self._offer_waiting(agent, p.at)

    def _on_ConversationOpened(self, _e: Envelope, p: ev.ConversationOpened) -> list[Envelope]:
        if p.conversation_id in self.conversations:
            return []
        tracked = Tracked(
            p.conversation_id,
            Need(p.channel_id, p.language, frozenset(p.required_competences)),
            p.opened_at,
        )
        self.conversations[p.conversation_id] = tracked
        self.dirty_conversations.add(p.conversation_id)
        if not self.routing_enabled:
            return []  # everyone takes from the shared queue
        return [self._route(tracked, p.opened_at)]

    def _on_ConversationAssigned(self, _e: Envelope, p: ev.ConversationAssigned) -> list[Envelope]:
        tracked = self.conversations.get(p.conversation_id)
        if tracked is None:
            return []
        freed = None
        if tracked.assignee_id != p.assignee_id:
            freed = self._release(tracked, p.at)
            self._hold(tracked, p.assignee_id, p.at)
        tracked.status = "assigned"
        self.dirty_conversations.add(tracked.conversation_id)
        # Whoever routing had chosen may now have room for a waiting conversation.
        return self._offer_waiting(freed, p.at) if freed else []

    def _on_ConversationClosed(self, _e: Envelope, p: ev.ConversationClosed) -> list[Envelope]:
        tracked = self.conversations.pop(p.conversation_id, None)
        if tracked is None:
            return []
        self.dirty_conversations.add(p.conversation_id)
        freed = self._release(tracked, p.at)
        return self._offer_waiting(freed, p.at) if freed else []

    # --- deciding --------------------------------------------------------------------

    def _route(self, tracked: Tracked, at: datetime, replaces: uuid.UUID | None = None) -> Envelope:
        if not self.routing_enabled:
            decision = Decision(None, None)
        else:
            decision = choose_assignee(tracked.need, sorted(self.agents.values(), key=_by_id))
        if decision.assignee_id is not None:
            self._hold(tracked, decision.assignee_id, at)
        return self._decision_event(tracked, decision, at, replaces)

    def _waiting(self) -> list[Tracked]:
        return sorted(
            (c for c in self.conversations.values() if c.status == "waiting"), key=_by_arrival
        )

    def _offer_waiting(self, agent: Agent, at: datetime) -> list[Envelope]:
        """Give a newly available agent the oldest waiting conversations they can take."""
        out = []
        for tracked in self._waiting():
            if (
                not self.routing_enabled
                or agent.load >= agent.capacity
                or agent.presence != "online"
            ):
                break
            if not exclusions(agent, tracked.need):
                out.append(self._route(tracked, at))
        return out

    def _hold(self, tracked: Tracked, assignee_id: uuid.UUID, _at: datetime) -> None:
        tracked.assignee_id, tracked.status = assignee_id, "assigned"
        agent = self.agents.get(assignee_id)
        if agent is not None:
            agent.load += 1
            self.dirty_agents.add(agent.user_id)
        self.dirty_conversations.add(tracked.conversation_id)

    def _release(self, tracked: Tracked, at: datetime | None = None) -> Agent | None:
        agent = self.agents.get(tracked.assignee_id) if tracked.assignee_id else None
        if agent is not None and agent.load > 0:
            agent.load -= 1
            if agent.load == 0 and at is not None:
                agent.idle_since = at
            self.dirty_agents.add(agent.user_id)
        tracked.assignee_id = None
        return agent

    def _decision_event(
        self, tracked: Tracked, decision: Decision, at: datetime, replaces: uuid.UUID | None = None
    ) -> Envelope:
        tracked.rounds += 1
        self.dirty_conversations.add(tracked.conversation_id)
        payload = ConversationRouted(
            conversation_id=tracked.conversation_id,
            assignee_id=decision.assignee_id,
            replaces_assignee_id=replaces,
            tie_break=decision.tie_break,
            candidates=[
                CandidateVerdict(user_id=v.user_id, excluded_by=list(v.excluded_by), load=v.load)
                for v in decision.verdicts
            ],
            decided_at=at,
        )
        return Envelope.wrap(
            payload,
            tenant_id=self.tenant_id,
            event_id=uuid.uuid5(DECISION_NAMESPACE, f"{tracked.conversation_id}/{tracked.rounds}"),
            occurred_at=at,
            causation_id=tracked.conversation_id,
        )


def _by_id(agent: Agent) -> str:
    return str(agent.user_id)


def _by_arrival(tracked: Tracked) -> tuple[datetime, str]:
    return tracked.opened_at, str(tracked.conversation_id)
