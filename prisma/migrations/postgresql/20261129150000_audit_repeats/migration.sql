-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN     "count" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "lastAt" TIMESTAMP(3),
ADD COLUMN     "repeatKey" TEXT;

-- CreateIndex
CREATE INDEX "AuditEvent_repeatKey_createdAt_idx" ON "AuditEvent"("repeatKey", "createdAt");
