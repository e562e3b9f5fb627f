-- AlterTable
ALTER TABLE "OutboxMessage" ADD COLUMN     "connectionId" TEXT;
