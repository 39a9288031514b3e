import { describe, expect, it } from 'vitest';
import { statusPage, statusView } from '../../src/server/page.js';
import type { StatusDocument } from '../../src/server/status.js';

/** The countdown text, as the server renders it and as the page recounts it every second (one function for both). */

const view = statusView();

describe('countdown text', () => {
  it.each([
    { seconds: 0, want: '0s' },
    { seconds: 59.9, want: '59s' },
    { seconds: 61, want: '1m 01s' },
    { seconds: 3600, want: '1h 00m 00s' },
    { seconds: 3723, want: '1h 02m 03s' },
    { seconds: 7 * 86400 + 61, want: '7d 0h 01m 01s' },
    { seconds: -5, want: '0s' },
  ])('span($seconds) = $want', ({ seconds, want }) => {
    expect(view.span(seconds)).toBe(want);
  });

  const at = Date.UTC(2026, 0, 1, 12, 0, 0);
  it.each([
    // Rounded towards the moment itself: "in 1s" until it comes, never "in 0s".
    { name: 'a minute ahead', now: at - 60_000, want: 'disables in 1m 00s' },
    { name: 'half a second ahead', now: at - 500, want: 'disables in 1s' },
    { name: 'the moment itself', now: at, want: 'presumed disabled 0s ago' },
    { name: 'ten seconds past', now: at + 10_000, want: 'presumed disabled 10s ago' },
  ])('$name', ({ now, want }) => {
    expect(view.relative(at, now, 'disables in {}', 'presumed disabled {} ago')).toBe(want);
  });

  it('absolute times are UTC, the same for every reader', () => {
    expect(view.absolute('2026-01-01T12:00:05.900Z')).toBe('2026-01-01 12:00:05 UTC');
  });
});

describe('the page', () => {
  const doc: StatusDocument = {
    generatedAt: '2026-01-01T12:00:00.000Z',
    subscriptions: [
      {
        provider: 'acct', name: '<img src=x onerror=alert(1)>', kind: 'axp-digital', remoteId: 'r1', previousRemoteId: null, state: 'active', status: 'ACTIVE', expiresAt: null,
        nextCheckAt: '2026-01-01T12:01:00.000Z', lastRenewedAt: null, failureCount: 0, lastError: null, lastErrorCode: null,
        callback: { target: '<img src=x onerror=alert(1)>', health: 'unhealthy', consecutiveFailures: 3, unhealthySince: '2026-01-01T11:59:00.000Z', disableAt: '2026-01-01T19:59:00.000Z', deleteAt: '2026-01-08T19:59:00.000Z' },
      },
    ],
    leases: [],
    targets: [],
    deliveries: [],
    history: [],
  };

  it('escapes every recorded string', () => {
    const html = statusPage(doc);
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  it('projects the cutoffs as countdowns with their times', () => {
    const html = statusPage(doc);
    expect(html).toContain('>disables in 7h 59m 00s</time> <small class="at">2026-01-01 19:59:00 UTC</small>');
    expect(html).toContain('>deletes in 7d 7h 59m 00s</time> <small class="at">2026-01-08 19:59:00 UTC</small>');
    expect(html).toContain('earliest projected cutoff');
  });

  it("the page's script holds the same renderer, and nothing that would end its script element early", () => {
    const html = statusPage(doc);
    const script = html.slice(html.indexOf('<script>') + 8, html.lastIndexOf('</script>'));
    expect(script).toContain(statusView.toString());
    expect(script).not.toMatch(/<\/script|<!--/i);
    // It parses as a script.
    expect(() => new Function(script)).not.toThrow();
  });
});
