-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN "count" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "AuditEvent" ADD COLUMN "lastAt" DATETIME;
ALTER TABLE "AuditEvent" ADD COLUMN "repeatKey" TEXT;

-- CreateIndex
CREATE INDEX "AuditEvent_repeatKey_createdAt_idx" ON "AuditEvent"("repeatKey", "createdAt");
