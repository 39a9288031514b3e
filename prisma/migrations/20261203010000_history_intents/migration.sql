-- CreateIndex
CREATE INDEX "history_provider_action_name_id_idx" ON "history"("provider", "action", "name", "id");
