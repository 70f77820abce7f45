"""An administrator's desk for the conversation API tests: a tenant, its channel and end users, and the calls they make."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.conversation.application.conversations import Inbound, Routed
from services.conversation.domain.conversation import Visitor
from shared.events import ConversationRouted, InboundMessageReceived, MessageContent
from tests.support.tenants import new_tenant

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


class Desk:
    """A tenant with a website chat, two competences, two topics, and visitors who write."""

    def __init__(self, portal, plan: str = "pro", routing: bool = True) -> None:  # type: ignore[no-untyped-def]
        self.portal = portal
        self.svc = portal.app.state.service
        self.tenant = new_tenant(portal, plan=plan)
        self.admin = self.tenant.tokens["administrator"]
        self.agent = self.tenant.tokens["agent"]
        self.manager = self.tenant.tokens["manager"]
        self.ok(
            portal.put(
                "/v1/settings/general",
                headers=self.admin,
                json={"routing_enabled": routing, "languages": ["nl", "fr"]},
            )
        )
        self.competences = {
            name: self.ok(portal.post("/v1/competences", headers=self.admin, json={"name": name}))[
                "id"
            ]
            for name in ("Orders", "Technical")
        }
        for name in ("Delivery", "Complaint"):
            self.ok(portal.post("/v1/topics", headers=self.admin, json={"name": name}))
        self.channel = self.ok(
            portal.post(
                "/v1/channels",
                headers=self.admin,
                json={"channel_type": "webchat", "name": "Site"},
            )
        )["channel_id"]

    @staticmethod
    def ok(response):  # type: ignore[no-untyped-def]
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def visitor_writes(
        self,
        visitor: str,
        mid: str,
        text: str = "hello",
        name: str | None = None,
        at: datetime = T0,
    ) -> str:
        tenant_id = uuid.UUID(self.tenant.tenant_id)
        message = InboundMessageReceived(
            channel_id=uuid.UUID(self.channel),
            channel_type="webchat",
            channel_message_id=mid,
            visitor_external_id=visitor,
            visitor_name=name,
            content=MessageContent(text=text),
            received_at=at,
        )
        self.svc.conversations.receive_inbound(
            [Inbound(tenant_id, message)], self.svc.directory.channel_context
        )
        self.svc.projector.catch_up_now()
        visitor_id = Visitor.create_id(tenant_id, uuid.UUID(self.channel), visitor)
        return str(self.svc.conversations.repository.get(visitor_id).conversation_ids[-1])

    def routed(self, conversation_id: str, role: str | None) -> None:
        decision = ConversationRouted(
            conversation_id=uuid.UUID(conversation_id),
            assignee_id=uuid.UUID(self.tenant.users[role]) if role else None,
            decided_at=T0 + timedelta(seconds=1),
        )
        self.svc.conversations.apply_routing([Routed(uuid.UUID(self.tenant.tenant_id), decision)])
        self.svc.projector.catch_up_now()

    def get(self, conversation_id: str, who=None):  # type: ignore[no-untyped-def]
        return self.ok(
            self.portal.get(f"/v1/conversations/{conversation_id}", headers=who or self.admin)
        )
