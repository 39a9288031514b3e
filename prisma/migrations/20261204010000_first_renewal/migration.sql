-- A subscription made by hookwarden and not renewed since: its first renewal is spread over the renewal cycle.
ALTER TABLE "subscription" ADD COLUMN "firstRenewalPending" BOOLEAN NOT NULL DEFAULT false;
