"""The stats service's settings, from the environment (the shared ones, see the README).

What the dashboard counts and how (buckets, periods, figures) is the spec's
(``domain/``), not settings; the view's version is checked at start (``__main__``).
"""

from __future__ import annotations

from shared.consumer_service import ConsumerServiceSettings


class StatsSettings(ConsumerServiceSettings):
    service_name: str = "stats"
    http_port: int = 8003
