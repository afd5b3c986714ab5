"""`Idempotency-Key` on writes: a retried write returns the first response, never a duplicate.

The key is claimed with an INSERT in the write's own transaction, and the response is stored
by the same transaction before it commits, so key, write and response are one atomic unit:
- first request: the claim succeeds, the write runs, its response is stored, all commit;
- a retry with the same key and the same request: the stored response is replayed
  (`Idempotent-Replayed: true`), nothing is written again;
- the same key with a different request: 422;
- two identical requests at once: the second waits on the first's claim (the unique index),
  then replays its response; if the first rolled back, the second runs the write itself.
Keys are scoped to the token's subject and expire after `IDEMPOTENCY_TTL_SECONDS` (24 h).

`service` holds the rules, `repository` the SQL, `dependency` the FastAPI side.
"""
