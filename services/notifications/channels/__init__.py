"""Delivery channels with real I/O: e-mail over SMTP and signed JSON webhooks.

The inbox is not a channel module: the service writes inbox rows in its own database.
"""

from services.notifications.channels.errors import DeliveryError

__all__ = ["DeliveryError"]
