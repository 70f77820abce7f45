"""The conversation service's rules say no with a ``Refusal`` whose kind fixes the HTTP status
(``shared.http.REFUSAL_STATUS``): the domain's errors, used directly (no API, no store)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.conversation.domain.conversation import ConversationError
from services.conversation.domain.directory import (
    Channel,
    DirectoryError,
    EndUser,
    NameTaken,
    SkillsNotAllowed,
    UniqueName,
    check_skills,
)
from shared.errors import Refusal
from shared.http import REFUSAL_STATUS

TENANT = uuid.UUID("a0000000-0000-4000-8000-000000000001")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def new_user(role: str, **skills: list) -> EndUser:
    return EndUser(
        tenant_id=TENANT,
        first_name="Ann",
        last_name="Peeters",
        email="ann@example.org",
        role=role,
        mother_tongue="nl",
        languages=skills.get("languages", []),
        channel_ids=skills.get("channel_ids", []),
        competences=skills.get("competences", []),
        capacity=None,
        activated_at=T0,
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("topics_required", 422),
        ("unknown_field", 422),
        ("not_yours", 409),
        ("closed", 409),
        ("concurrent_change", 409),
    ],
)
def test_a_conversation_refusal_is_422_for_what_the_request_carries_else_409(
    code: str, status: int
) -> None:
    refusal = ConversationError(code, "no")
    assert isinstance(refusal, Refusal)
    assert (refusal.code, REFUSAL_STATUS[refusal.kind], str(refusal)) == (code, status, "no")


@pytest.mark.parametrize(
    "skills",
    [{"languages": ["nl"]}, {"channel_ids": [uuid.uuid4()]}, {"competences": ["billing"]}],
)
def test_analysts_get_no_competences_channels_or_languages(skills: dict) -> None:
    with pytest.raises(SkillsNotAllowed) as refused:
        new_user("analyst", **skills)
    assert (refused.value.code, REFUSAL_STATUS[refused.value.kind]) == ("skills_not_allowed", 422)
    new_user("agent", **skills)  # a handler may have them
    analyst = new_user("analyst")
    with pytest.raises(SkillsNotAllowed):
        analyst.update(**skills)
    with pytest.raises(SkillsNotAllowed):
        check_skills("analyst", **{"languages": [], "channel_ids": [], "competences": []} | skills)


def test_a_deactivated_user_has_no_presence_and_a_disconnected_channel_stays_so() -> None:
    user = new_user("agent")
    user.deactivate(T0)
    with pytest.raises(DirectoryError) as inactive:
        user.set_presence("online", T0)
    assert (inactive.value.code, REFUSAL_STATUS[inactive.value.kind]) == ("inactive_user", 409)
    channel = Channel(tenant_id=TENANT, channel_type="webchat", name="Site", public_key="k")
    channel.disconnect()
    with pytest.raises(DirectoryError) as again:
        channel.disconnect()
    assert (again.value.code, REFUSAL_STATUS[again.value.kind]) == ("already_disconnected", 409)


@pytest.mark.parametrize(("kind", "code"), [("email", "email_taken"), ("topic", "name_taken")])
def test_a_name_held_by_another_is_409_with_the_code_for_its_kind(kind: str, code: str) -> None:
    name = UniqueName(tenant_id=TENANT, kind=kind, digest=UniqueName.digest_of("x"))
    name.take(uuid.uuid4())
    with pytest.raises(NameTaken) as taken:
        name.take(uuid.uuid4())
    assert (taken.value.code, REFUSAL_STATUS[taken.value.kind]) == (code, 409)
