-- CreateIndex
CREATE INDEX "history_provider_action_name_id_idx" ON "history"("provider", "action", "name", "id");

-- CreateIndex
CREATE INDEX "history_actionId_idx" ON "history"("actionId");
