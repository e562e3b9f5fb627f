-- AlterTable
ALTER TABLE "MagicLink" ADD COLUMN "requestIp" TEXT;
ALTER TABLE "MagicLink" ADD COLUMN "requestFrom" TEXT;
