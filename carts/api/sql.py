"""The HTTP layer's own statement, with no Django import, so that the
benchmark's floor (bench/floor.py) runs exactly the text the service runs."""

# Claim an Idempotency-Key for this request: insert the caller's record, or
# take over one older than the TTL. A row when claimed; none when a live
# record holds the key (then read it). A duplicate whose first is still
# running waits here on the unique index until that one commits (then: a live
# record to replay) or rolls back (then: claimed), at most the connection's
# lock_timeout (DATABASE_LOCK_TIMEOUT). The ORM cannot say "insert, or update
# only if expired". (SQLite wants a WHERE before ON CONFLICT in INSERT SELECT.)
IDEMPOTENCY_CLAIM = """
    INSERT INTO carts_idempotencyrecord
      (caller_id, key, request_hash, status, body, etag, created_at)
    SELECT %(caller)s, %(key)s, %(request_hash)s, NULL, '', '', %(now)s WHERE true
    ON CONFLICT (caller_id, key) DO UPDATE
      SET request_hash = excluded.request_hash, status = NULL, body = '',
          etag = '', created_at = excluded.created_at
      WHERE carts_idempotencyrecord.created_at < %(expired_before)s
    RETURNING 1
"""
