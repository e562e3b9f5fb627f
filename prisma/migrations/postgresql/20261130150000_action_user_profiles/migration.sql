-- Risk actions: what a tenant says about its users through the users API, apart from User.

CREATE TABLE "ActionUserProfile" (
    "tenantId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "attributes" TEXT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ActionUserProfile_pkey" PRIMARY KEY ("tenantId", "userId")
);
