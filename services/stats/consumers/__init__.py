"""The Kafka side of the view: which events the stats consumer group reads, and its applier.

``ConsumerService`` hands each batch of new deliveries to :func:`apply` inside one
transaction that also records the batch's event ids (idempotence); the projector does
the rest.
"""

from services.stats.application.projector import WANTED, apply

__all__ = ["WANTED", "apply"]
