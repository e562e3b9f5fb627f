-- The admin role: who may use the admin console (/admin), checked on every request.
ALTER TABLE "User" ADD COLUMN "isAdmin" BOOLEAN NOT NULL DEFAULT false;
