-- Auth0-style mfa_tokens: the first factor's hand-over to the MFA API (hashed, client-bound, single use).

-- CreateTable
CREATE TABLE "MfaToken" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "clientId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "amr" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "resource" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" DATETIME NOT NULL,
    "usedAt" DATETIME
);

-- CreateIndex
CREATE INDEX "MfaToken_expiresAt_idx" ON "MfaToken"("expiresAt");
