-- Risk actions: what a tenant says about its users through the users API, apart from User.

CREATE TABLE "ActionUserProfile" (
    "tenantId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "attributes" TEXT NOT NULL,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("tenantId", "userId")
);
