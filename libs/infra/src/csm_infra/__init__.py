"""Embedded real servers on loopback for development and tests: PostgreSQL, a Kafka-protocol
broker (Tansu) and an SMTP sink. No Docker, no mocks."""
