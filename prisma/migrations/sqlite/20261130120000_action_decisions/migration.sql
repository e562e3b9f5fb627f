-- Risk actions: each tracked action with its decision, the rules that matched and why.

-- CreateTable
CREATE TABLE "ActionDecision" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenantId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "actionCode" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "ruleIds" TEXT NOT NULL,
    "explanation" TEXT NOT NULL,
    "ip" TEXT,
    "deviceId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "ActionDecision_tenantId_idempotencyKey_key" ON "ActionDecision"("tenantId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "ActionDecision_tenantId_userId_actionCode_createdAt_idx" ON "ActionDecision"("tenantId", "userId", "actionCode", "createdAt");

-- CreateIndex
CREATE INDEX "ActionDecision_tenantId_actionCode_ip_createdAt_idx" ON "ActionDecision"("tenantId", "actionCode", "ip", "createdAt");

-- CreateIndex
CREATE INDEX "ActionDecision_createdAt_idx" ON "ActionDecision"("createdAt");
