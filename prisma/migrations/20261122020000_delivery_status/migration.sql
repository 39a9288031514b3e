-- CreateTable
CREATE TABLE "delivery_status" (
    "id" UUID NOT NULL,
    "subscriptionId" UUID NOT NULL,
    "provider" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "deliveredAt" TIMESTAMPTZ(3),
    "success" BOOLEAN,
    "responseCode" INTEGER,
    "responseText" TEXT,
    "lastFailureAt" TIMESTAMPTZ(3),
    "lastFailureCode" INTEGER,
    "lastFailureText" TEXT,
    "logsCheckedFor" TIMESTAMPTZ(3),
    "polledAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "delivery_status_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "delivery_status_provider_name_idx" ON "delivery_status"("provider", "name");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_status_subscriptionId_event_key" ON "delivery_status"("subscriptionId", "event");
