-- CreateTable
CREATE TABLE "coverage_gap" (
    "id" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "remoteId" TEXT,
    "previousRemoteId" TEXT,
    "cause" TEXT NOT NULL,
    "confidence" TEXT NOT NULL,
    "from" TIMESTAMPTZ(3) NOT NULL,
    "to" TIMESTAMPTZ(3),
    "events" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "openedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "hookState" TEXT NOT NULL DEFAULT 'none',
    "hookAttempts" INTEGER NOT NULL DEFAULT 0,
    "hookNextAttemptAt" TIMESTAMPTZ(3),
    "hookLastAttemptAt" TIMESTAMPTZ(3),
    "hookLastStatus" INTEGER,
    "hookLastError" TEXT,
    "hookDeliveredAt" TIMESTAMPTZ(3),

    CONSTRAINT "coverage_gap_pkey" PRIMARY KEY ("id")
);

-- CreateIndex: at most one open gap per (provider, name, cause); concurrent opens keep one row.
CREATE UNIQUE INDEX "coverage_gap_open_key" ON "coverage_gap"("provider", "name", "cause") WHERE ("to" IS NULL);

-- CreateIndex
CREATE INDEX "coverage_gap_from_idx" ON "coverage_gap"("from");

-- CreateIndex
CREATE INDEX "coverage_gap_closedAt_idx" ON "coverage_gap"("closedAt");

-- CreateIndex: the backfill hooks that are due.
CREATE INDEX "coverage_gap_hookState_hookNextAttemptAt_idx" ON "coverage_gap"("hookState", "hookNextAttemptAt");
