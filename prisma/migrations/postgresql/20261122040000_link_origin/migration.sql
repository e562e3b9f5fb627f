-- AlterTable
ALTER TABLE "MagicLink" ADD COLUMN     "requestFrom" TEXT,
ADD COLUMN     "requestIp" TEXT;
