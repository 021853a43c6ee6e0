"""The PostgreSQL sink (SPEC section 8): every record on the topics stored exactly once.

Read top-down: ``schema`` (tables, indexes, views; versioned in ``migrations``) -> ``tables`` (which
record lands where) -> ``pgcopy`` (binary COPY rows, column-wise) -> ``copy_writer`` (staging COPY +
``INSERT ... ON CONFLICT``, one transaction per batch; ``conflicts`` tells replays from other records
under a stored key) -> ``prepare`` (messages to rows and dead letters) -> ``pipeline`` (the writer
thread, circuit breaker, backoff) -> ``consumer`` (the consumer group, pause/resume, rebalances,
shutdown). Around it: ``dlq`` (dead-letter topic), ``metrics`` and ``lag`` (Prometheus), ``reports``
(``synfinance db query``), ``database`` (connections, migrations).
"""
