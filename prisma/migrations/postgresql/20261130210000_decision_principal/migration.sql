-- The console's user page lists one account's decisions across tenants, newest first.
CREATE INDEX "ActionDecision_principalId_createdAt_idx" ON "ActionDecision"("principalId", "createdAt");
