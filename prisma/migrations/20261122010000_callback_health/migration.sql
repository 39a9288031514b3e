-- AlterTable
ALTER TABLE "subscription" ADD COLUMN "presumedDisabledAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "callback_target" (
    "id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "consecutiveFailures" INTEGER NOT NULL DEFAULT 0,
    "failingSince" TIMESTAMPTZ(3),
    "unhealthySince" TIMESTAMPTZ(3),
    "disableAt" TIMESTAMPTZ(3),
    "deleteAt" TIMESTAMPTZ(3),
    "lastSuccessAt" TIMESTAMPTZ(3),
    "lastFailureAt" TIMESTAMPTZ(3),
    "lastFailureClass" TEXT,
    "lastFailureReason" TEXT,
    "lastLatencyMs" INTEGER,
    "lastProbeAt" TIMESTAMPTZ(3),
    "nextProbeAt" TIMESTAMPTZ(3) NOT NULL,
    "lastSignal" TEXT,
    "lastSignalAt" TIMESTAMPTZ(3),
    "version" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "callback_target_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "callback_target_nextProbeAt_idx" ON "callback_target"("nextProbeAt");

-- CreateIndex
CREATE UNIQUE INDEX "callback_target_provider_url_key" ON "callback_target"("provider", "url");
