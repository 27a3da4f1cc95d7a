-- An Idempotency-Key answers a repeat of the same request only: the key remembers a SHA-256 of
-- the request (method, route pattern, body). A reused key with another request is refused (422)
-- instead of answering with the entity someone else's request made. Rows from before this column
-- have no hash and are refused the same way, since nothing proves the repeat is the same request.
ALTER TABLE idempotency_keys ADD COLUMN request_hash TEXT;
