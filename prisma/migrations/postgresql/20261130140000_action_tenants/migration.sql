-- Risk actions: tenants of the actions API, their rule configurations, the app users known only
-- through it, and what a decision needs for challenges, results, reviews and travel.

ALTER TABLE "User" ADD COLUMN "tenantId" TEXT;

ALTER TABLE "ActionDecision" ADD COLUMN "principalId" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "verificationMethods" TEXT NOT NULL DEFAULT '[]';
ALTER TABLE "ActionDecision" ADD COLUMN "defaultVerificationMethod" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "verificationMethod" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "verifiedByAuthenticatorId" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "redirectUrl" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "context" TEXT NOT NULL DEFAULT '{}';
ALTER TABLE "ActionDecision" ADD COLUMN "country" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "latitude" DOUBLE PRECISION;
ALTER TABLE "ActionDecision" ADD COLUMN "longitude" DOUBLE PRECISION;
ALTER TABLE "ActionDecision" ADD COLUMN "resultTokenId" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "validatedAt" TIMESTAMP(3);
ALTER TABLE "ActionDecision" ADD COLUMN "interactionUid" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "reviewedBy" TEXT;
ALTER TABLE "ActionDecision" ADD COLUMN "stateUpdatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX "ActionDecision_interactionUid_idx" ON "ActionDecision"("interactionUid");

CREATE TABLE "ActionTenant" (
    "clientId" TEXT NOT NULL,
    "secretDigest" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ActionTenant_pkey" PRIMARY KEY ("clientId")
);

CREATE UNIQUE INDEX "ActionTenant_secretDigest_key" ON "ActionTenant"("secretDigest");

CREATE TABLE "ActionConfiguration" (
    "tenantId" TEXT NOT NULL,
    "actionCode" TEXT NOT NULL,
    "policy" TEXT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ActionConfiguration_pkey" PRIMARY KEY ("tenantId", "actionCode")
);
