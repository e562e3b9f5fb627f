-- The account page: the browser of each sign-in in the audit, a user's recent sign-ins read by
-- user and time, and oidc-provider sessions found by account (to end a user's other sessions).
ALTER TABLE "AuditEvent" ADD COLUMN "userAgent" TEXT;
CREATE INDEX "AuditEvent_userId_createdAt_idx" ON "AuditEvent"("userId", "createdAt");

ALTER TABLE "OidcPayload" ADD COLUMN "accountId" TEXT;
CREATE INDEX "OidcPayload_accountId_idx" ON "OidcPayload"("accountId");
