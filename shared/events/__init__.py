"""Domain events: the CloudEvents envelope and the catalogue of topics and types."""

from shared.events.catalogue import CATALOGUE, EventSpec, topic_for
from shared.events.envelope import decode_envelope, encode_envelope, make_event

__all__ = ["CATALOGUE", "EventSpec", "decode_envelope", "encode_envelope", "make_event",
           "topic_for"]
