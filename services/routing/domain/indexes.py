"""Indexes over one tenant's routing state, so a decision never scans the whole tenant.

A tenant may have a thousand agents and ten thousand waiting conversations; a decision
looks only at the agents *available* for the conversation's channel and language, kept
in the order of the choice (least loaded, idle longest, id), so the first who has the
competences wins. An agent with room looks only at the waiting conversations of their
channels and languages, oldest first. The indexes are derived: rebuilt after a load.
Ids are ordered by their number, which is the order of their text.
"""

from __future__ import annotations

import heapq
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from sortedcontainers import SortedList

from services.routing.domain.choice import Candidate, Need, handles, is_available, rank

Key = tuple[uuid.UUID, str]  # (channel, language)
Entry = tuple[datetime, int, uuid.UUID]  # (time, id as a number for a stable order, id)
Ranked = tuple[int, float, int, uuid.UUID]  # rank(agent) + the id
EMPTY: SortedList = SortedList()


def _keys(agent: Candidate) -> frozenset[Key]:
    return frozenset((c, lang) for c in agent.channel_ids for lang in agent.languages)


class Roster:
    """Agents by (channel, language): who handles it (by id), who is available (by rank)."""

    def __init__(self) -> None:
        self.skilled: dict[Key, SortedList] = defaultdict(SortedList)
        self.available: dict[Key, SortedList] = defaultdict(SortedList)
        self._filed: dict[uuid.UUID, tuple[frozenset[Key], Ranked | None]] = {}

    def update(self, agent: Candidate) -> None:
        """Re-file one agent after any change to them."""
        keys = _keys(agent) if handles(agent) else frozenset()
        ranked = (*rank(agent), agent.user_id) if is_available(agent) else None
        now = (keys, ranked)
        before = self._filed.get(agent.user_id)
        if before == now:
            return
        old_keys, old_ranked = before if before is not None else (frozenset(), None)
        by_id = (agent.user_id.int, agent.user_id)
        for key in old_keys - keys:
            self.skilled[key].remove(by_id)
        for key in keys - old_keys:
            self.skilled[key].add(by_id)
        if old_ranked is not None:
            for key in old_keys:
                self.available[key].remove(old_ranked)
        if ranked is not None:
            for key in keys:
                self.available[key].add(ranked)
        self._filed[agent.user_id] = now

    def available_for(self, need: Need) -> Iterator[uuid.UUID]:
        """Available agents with the need's channel and language, best first."""
        for entry in self.available.get((need.channel_id, need.language), EMPTY):
            yield entry[3]

    def skilled_for(self, need: Need, limit: int) -> list[uuid.UUID]:
        """The first ``limit`` (by id) who have the need's channel and language."""
        found = self.skilled.get((need.channel_id, need.language), EMPTY)
        return [entry[1] for entry in found.islice(0, limit)]

    def contents(self) -> tuple[dict, dict]:
        """Both indexes as plain data (for checks against a rebuild)."""
        return (
            {k: list(v) for k, v in self.skilled.items() if v},
            {k: list(v) for k, v in self.available.items() if v},
        )


class Queue:
    """Waiting conversations in arrival order, overall and by (channel, language)."""

    def __init__(self) -> None:
        self.all: SortedList = SortedList()
        self.by_key: dict[Key, SortedList] = defaultdict(SortedList)
        self._filed: dict[uuid.UUID, tuple[Entry, Key]] = {}

    def __contains__(self, conversation_id: uuid.UUID) -> bool:
        return conversation_id in self._filed

    def __len__(self) -> int:
        return len(self._filed)

    def add(self, conversation_id: uuid.UUID, opened_at: datetime, need: Need) -> None:
        key = (need.channel_id, need.language)
        filed = self._filed.get(conversation_id)
        if filed is not None and filed[1] == key:
            return
        self.discard(conversation_id)
        entry = (opened_at, conversation_id.int, conversation_id)
        self.all.add(entry)
        self.by_key[key].add(entry)
        self._filed[conversation_id] = (entry, key)

    def discard(self, conversation_id: uuid.UUID) -> None:
        filed = self._filed.pop(conversation_id, None)
        if filed is not None:
            entry, key = filed
            self.all.remove(entry)
            self.by_key[key].remove(entry)

    def oldest_first(self) -> list[uuid.UUID]:
        return [entry[2] for entry in self.all]

    def for_agent(self, agent: Candidate) -> Iterator[uuid.UUID]:
        """The waiting conversations on the agent's channels and languages, oldest first."""
        lists = [self.by_key[key] for key in _keys(agent) if self.by_key.get(key)]
        for entry in heapq.merge(*lists):
            yield entry[2]


class Deadlines:
    """Conversations assigned but not yet taken, by when they were assigned."""

    def __init__(self) -> None:
        self.entries: SortedList = SortedList()
        self._filed: dict[uuid.UUID, Entry] = {}

    def set(self, conversation_id: uuid.UUID, assigned_at: datetime) -> None:
        entry = (assigned_at, conversation_id.int, conversation_id)
        if self._filed.get(conversation_id) == entry:
            return
        self.discard(conversation_id)
        self.entries.add(entry)
        self._filed[conversation_id] = entry

    def discard(self, conversation_id: uuid.UUID) -> None:
        entry = self._filed.pop(conversation_id, None)
        if entry is not None:
            self.entries.remove(entry)

    def assigned_up_to(self, moment: datetime) -> list[uuid.UUID]:
        """Those assigned at or before ``moment``, longest waiting first."""
        end = self.entries.bisect_right((moment, 2**128))
        return [entry[2] for entry in self.entries.islice(0, end)]
