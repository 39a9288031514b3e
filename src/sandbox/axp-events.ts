import { randomUUID } from 'node:crypto';

/** Events as AXP delivers them (the Digital callback examples; an AXP Notification envelope). */
export function digitalEvent(eventType: string, sub: { channelProviderId: string }, accountId: string, at: Date): Record<string, unknown> {
  const common = { correlationId: randomUUID(), eventDate: at.toISOString(), accountId, channelProviderId: sub.channelProviderId, engagementId: randomUUID(), dialogId: randomUUID(), sessionId: randomUUID() };
  switch (eventType) {
    case 'ENGAGEMENT_CREATED':
      return { eventType, ...common, conversation: 'sandbox conversation', businessAccountName: 'sandbox', initiatorParticipantId: 'customer@example.com', customerIdentifiers: { emailAddresses: ['customer@example.com'], phoneNumbers: [] }, engagementParameters: {}, providerDialogId: 'sandbox' };
    case 'PARTICIPANT_ADDED':
    case 'PARTICIPANT_DISCONNECTED':
      return { eventType, ...common, channelId: 'Chat', connectionId: randomUUID(), participantId: randomUUID(), displayName: 'Andy Morgan', participantType: 'AGENT', providerDialogId: 'sandbox', providerParticipantId: 'sandbox' };
    case 'TYPING':
      return { eventType, ...common, participantId: randomUUID(), participantType: 'AGENT' };
    case 'ENGAGEMENT_ERROR':
      return { eventType, ...common, type: 'ENGAGEMENT_CREATION_FAILED', title: 'Error occurred while creating an engagement', detail: 'sandbox' };
    default:
      return { eventType: 'MESSAGES', ...common, messageId: randomUUID(), status: 'SENT', channelId: 'Chat', senderParticipantId: randomUUID(), senderParticipantName: 'Jane Doe', senderParticipantType: 'CUSTOMER', body: { elementType: 'Text', elementText: { text: 'Hello from the sandbox', textFormat: 'PLAINTEXT' } } };
  }
}

export function notificationEvent(event: string, family: string, accountId: string, at: Date): Record<string, unknown> {
  return { eventType: event === 'ALL' ? 'AgentParticipant' : event, family, correlationId: randomUUID(), eventDate: at.toISOString(), accountId, engagementId: randomUUID() };
}

/** Which callback event a Digital subscription's first event type produces. */
export function digitalEventType(eventTypes: string[]): string {
  const t = eventTypes[0] ?? 'MESSAGES';
  return t === 'ALL' || t === 'CUSTOMER_MESSAGES' || t === 'CC_MESSAGES' ? 'MESSAGES' : t;
}
