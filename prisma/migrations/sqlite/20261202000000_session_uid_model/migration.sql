-- A token's session is found by its uid (model 'Session'). With only "uid" indexed, PostgreSQL
-- without fresh statistics ANDed it with the primary key's "model" prefix, reading the key of every
-- session on each userinfo, introspection and refresh; an index on both answers it alone.
DROP INDEX "OidcPayload_uid_idx";
CREATE INDEX "OidcPayload_uid_model_idx" ON "OidcPayload"("uid", "model");
