-- CreateTable
CREATE TABLE "ServiceClient" (
    "id" TEXT NOT NULL,
    "connectionId" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ServiceClient_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ServiceClientKey" (
    "kid" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "publicJwk" TEXT NOT NULL,
    "allowProfile" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ServiceClientKey_pkey" PRIMARY KEY ("kid")
);

-- CreateTable
CREATE TABLE "ExternalIdentity" (
    "connectionId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ExternalIdentity_pkey" PRIMARY KEY ("connectionId","subject")
);

-- CreateTable
CREATE TABLE "ExternalState" (
    "id" TEXT NOT NULL,
    "connectionId" TEXT NOT NULL,
    "interactionUid" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "consumedAt" TIMESTAMP(3),

    CONSTRAINT "ExternalState_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ServiceClient_connectionId_idx" ON "ServiceClient"("connectionId");

-- CreateIndex
CREATE INDEX "ServiceClientKey_clientId_idx" ON "ServiceClientKey"("clientId");

-- CreateIndex
CREATE INDEX "ExternalIdentity_userId_idx" ON "ExternalIdentity"("userId");

-- CreateIndex
CREATE INDEX "ExternalState_expiresAt_idx" ON "ExternalState"("expiresAt");
