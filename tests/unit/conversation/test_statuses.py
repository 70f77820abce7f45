"""A conversation's statuses are one enum (shared.events.ConversationStatus); the Portal
API's schema spells the same values out as a literal for its OpenAPI document, and the
two must not drift apart."""

from __future__ import annotations

from typing import get_args

from services.conversation.api import schemas
from shared.events import ConversationStatus


def test_the_api_schema_lists_exactly_the_statuses_of_the_enum() -> None:
    assert set(get_args(schemas.ConversationStatus)) == {s.value for s in ConversationStatus}
