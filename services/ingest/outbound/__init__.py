"""Replies out: deliveries to Meta's Graph API, each ending as a DeliveryStatusReported."""
