-- A renewal that came late: its next renewal is spread over the cycle, but no earlier than this (half a lifetime after it).
ALTER TABLE "subscription" ADD COLUMN "spreadFrom" TIMESTAMPTZ(3);
