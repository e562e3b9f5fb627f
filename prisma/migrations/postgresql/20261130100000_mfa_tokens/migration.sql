-- Auth0-style mfa_tokens: the first factor's hand-over to the MFA API (hashed, client-bound, single use).

-- CreateTable
CREATE TABLE "MfaToken" (
    "id" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "amr" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "resource" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),

    CONSTRAINT "MfaToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "MfaToken_expiresAt_idx" ON "MfaToken"("expiresAt");
