"""Integration tests of the event backbone: outbox relay and consumer runtime on a real Kafka."""
