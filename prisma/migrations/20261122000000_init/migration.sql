-- CreateTable
CREATE TABLE "subscription" (
    "id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "remoteId" TEXT,
    "previousRemoteId" TEXT,
    "status" TEXT,
    "state" TEXT NOT NULL,
    "owned" BOOLEAN NOT NULL DEFAULT false,
    "desiredHash" TEXT,
    "expiresAt" TIMESTAMPTZ(3),
    "lifetimeSeconds" INTEGER,
    "lastRenewedAt" TIMESTAMPTZ(3),
    "lastObservedAt" TIMESTAMPTZ(3),
    "nextCheckAt" TIMESTAMPTZ(3) NOT NULL,
    "failureCount" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lastErrorCode" TEXT,
    "version" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "subscription_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "history" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actionId" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "remoteId" TEXT,
    "previousRemoteId" TEXT,
    "errorCode" TEXT,
    "error" TEXT,

    CONSTRAINT "history_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "subscription_nextCheckAt_idx" ON "subscription"("nextCheckAt");

-- CreateIndex
CREATE UNIQUE INDEX "subscription_provider_name_key" ON "subscription"("provider", "name");

-- CreateIndex
CREATE INDEX "history_provider_name_at_idx" ON "history"("provider", "name", "at");
