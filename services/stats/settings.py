"""The stats service's settings (environment, see the README)."""

from shared.consumer_service import ConsumerServiceSettings


class StatsSettings(ConsumerServiceSettings):
    service_name: str = "stats"
    http_port: int = 8003
