"""The SLA service's settings, from the environment (the shared ones, see the README).

The service-level targets and credit percentages are the contract's (SPEC §6,
``domain.targets``, ``domain.credits``), not settings.
"""

from __future__ import annotations

from shared.consumer_service import ConsumerServiceSettings


class SlaSettings(ConsumerServiceSettings):
    service_name: str = "sla"
    http_port: int = 8005
