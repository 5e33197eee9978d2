"""The CSM event-sourcing kernel, shared by every service.

- `store`: event stores (PostgreSQL and in-memory) with optimistic concurrency, gap-free global
  positions and per-stream hash chains;
- `relay`: the transactional outbox relay to Kafka (the event store is the outbox);
- `consumer`: idempotent consumers with a tracking table and a dead-letter topic;
- `upcasting`, `migrations`, `verify`, `observability`, `http`, `errors`, `clock`.
"""
