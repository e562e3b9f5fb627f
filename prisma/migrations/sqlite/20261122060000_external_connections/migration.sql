-- CreateTable
CREATE TABLE "ServiceClient" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "connectionId" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME
);

-- CreateTable
CREATE TABLE "ServiceClientKey" (
    "kid" TEXT NOT NULL PRIMARY KEY,
    "clientId" TEXT NOT NULL,
    "publicJwk" TEXT NOT NULL,
    "allowProfile" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME
);

-- CreateTable
CREATE TABLE "ExternalIdentity" (
    "connectionId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("connectionId", "subject")
);

-- CreateTable
CREATE TABLE "ExternalState" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "connectionId" TEXT NOT NULL,
    "interactionUid" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" DATETIME NOT NULL,
    "consumedAt" DATETIME
);

-- CreateIndex
CREATE INDEX "ServiceClient_connectionId_idx" ON "ServiceClient"("connectionId");

-- CreateIndex
CREATE INDEX "ServiceClientKey_clientId_idx" ON "ServiceClientKey"("clientId");

-- CreateIndex
CREATE INDEX "ExternalIdentity_userId_idx" ON "ExternalIdentity"("userId");

-- CreateIndex
CREATE INDEX "ExternalState_expiresAt_idx" ON "ExternalState"("expiresAt");
