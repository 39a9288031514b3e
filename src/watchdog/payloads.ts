import type { ProbeEvent, ProbeFormat } from '../domain/types.js';

/**
 * Probe bodies, one per delivering provider's format. By default the event type is one the
 * provider does not define (AXP tells receivers to accept unknown event types; a receiver
 * can never mistake a probe for real data); `sample` sends a realistic event of a defined
 * type instead. Every probe also carries the header PROBE_HEADER, and its ids start with
 * "hookwarden-probe" where the format allows.
 */
export const PROBE_HEADER = 'x-hookwarden-probe';
export const UNKNOWN_EVENT = {
  'axp-digital': 'HOOKWARDEN_PROBE',
  'axp-notification': 'HookwardenProbe',
  infinity: 'Agent.HookwardenProbe',
  dixa: 'HOOKWARDEN_PROBE',
  mycontactcenter: 'Category 0, Code 0',
} as const satisfies Record<ProbeFormat, string>;

export interface ProbeIds {
  /** A UUID, also sent in the probe header. */
  probeId: string;
  at: Date;
}

/** yyyyMMddHHmmss in UTC, as mycontactcenter's CreationDateUtc. */
export function compactUtc(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export function probePayload(format: ProbeFormat, event: ProbeEvent, ids: ProbeIds): Record<string, unknown> {
  const iso = ids.at.toISOString();
  const sample = event === 'sample';
  switch (format) {
    case 'axp-digital':
      return sample
        ? {
            eventType: 'ENGAGEMENT_CREATED',
            correlationId: `hookwarden-probe-${ids.probeId}`,
            eventDate: iso,
            engagementId: ids.probeId,
            dialogId: ids.probeId,
            accountId: 'PROBES',
            conversation: 'hookwarden probe',
            channelProviderId: 'hookwarden-probe',
            businessAccountName: 'hookwarden-probe',
            initiatorParticipantId: 'hookwarden-probe',
            sessionId: ids.probeId,
            customerIdentifiers: { emailAddresses: [], phoneNumbers: [] },
            engagementParameters: {},
            providerDialogId: 'hookwarden-probe',
          }
        : { eventType: UNKNOWN_EVENT['axp-digital'], correlationId: `hookwarden-probe-${ids.probeId}`, eventDate: iso, channelProviderId: 'hookwarden-probe' };
    case 'axp-notification':
      return {
        eventType: sample ? 'AgentParticipant' : UNKNOWN_EVENT['axp-notification'],
        family: 'AGENT_ENGAGEMENT',
        correlationId: `hookwarden-probe-${ids.probeId}`,
        eventDate: iso,
        ...(sample ? { engagementId: ids.probeId, participantId: 'hookwarden-probe', participantType: 'AGENT', state: 'ALERTING' } : {}),
      };
    case 'infinity':
      return {
        family: 'AGENT',
        eventType: sample ? 'Agent.Ready' : UNKNOWN_EVENT.infinity,
        eventId: ids.probeId,
        timestamp: iso,
        data: sample ? { agentId: 'hookwarden-probe', state: 'READY' } : {},
      };
    case 'dixa':
      return {
        event_id: ids.probeId,
        event_fqn: sample ? 'CONVERSATION_CREATED' : UNKNOWN_EVENT.dixa,
        event_version: '1',
        event_timestamp: iso,
        organization: { id: '00000000-0000-0000-0000-000000000000', name: 'hookwarden-probe' },
        data: sample ? { conversation: { csid: 0, channel: 'WIDGET_CHAT', status: 'OPEN', created_at: iso }, requester: { name: 'hookwarden-probe' } } : {},
      };
    case 'mycontactcenter':
      return sample
        ? {
            Id: ids.probeId,
            CreationDateUtc: compactUtc(ids.at),
            Category: 1, // Agent
            Code: 3, // StatusChanged
            SessionId: `hookwarden-probe-${ids.probeId}`,
            SessionType: 'CCA',
            Username: 'hookwarden-probe',
            PhoneNo: '',
            ActivityCode: 16,
            AvailabilityCode: 1,
            ActivityName: '',
          }
        : // Category 0 is no category mycontactcenter defines (1 = Agent is the only one implemented).
          { Id: ids.probeId, CreationDateUtc: compactUtc(ids.at), Category: 0, Code: 0 };
  }
}
