-- An operator may block a user (oidc/account.ts refuses a blocked account at every sign-in door).

ALTER TABLE "User" ADD COLUMN "blockedAt" DATETIME;
