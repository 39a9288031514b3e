import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError, type ProviderErrorCode } from '../../src/lib/errors.js';
import { createDispatcher, MAX_RETRY_AFTER_SECONDS } from '../../src/lib/http.js';
import type { ObservedSubscription } from '../../src/domain/types.js';
import type { Provider } from '../../src/providers/types.js';
import { FakeProvider, listBody, makeProvider, validToken, wireItem, type Answer, type Kind } from '../providers/fake-provider.js';

/**
 * Generated provider answers against the real clients over loopback HTTP. Every call either
 * returns valid data or throws a ProviderError with a code (and a finite Retry-After when it
 * has one); never another exception, never a hang, never an unbounded number of requests.
 */

const CODES: ProviderErrorCode[] = [
  'PROVIDER_BAD_REQUEST', 'PROVIDER_UNAUTHORIZED', 'PROVIDER_FORBIDDEN', 'PROVIDER_NOT_FOUND', 'PROVIDER_CONFLICT', 'PROVIDER_RATE_LIMITED',
  'PROVIDER_SERVER_ERROR', 'PROVIDER_TIMEOUT', 'PROVIDER_NETWORK', 'PROVIDER_BAD_RESPONSE', 'PROVIDER_AUTH_FAILED',
];
/** undici's retry interceptor tries an idempotent call up to 3 times; a 401 fetches a new token once. */
const ATTEMPTS_PER_ANSWER = 3 * 2;
const RUN_DEADLINE_MS = 5000;

const fake = new FakeProvider();
// Retries as in production, with waits capped short so that runs stay quick.
const dispatcher = createDispatcher({ maxRetryWaitMs: 20 });
beforeAll(() => fake.listen());
afterAll(async () => {
  await dispatcher.close();
  await fake.close();
});

const httpDate = (ms: number) => new Date(ms).toUTCString();
const NOW = Date.now();
const retryAfter = fc.constantFrom(
  '1e300', '-5', 'abc', '0', '1', '3', '86401', '9'.repeat(400), '', '1.5', 'Infinity',
  httpDate(NOW - 3600_000), httpDate(NOW + 30_000), httpDate(NOW + 10 * 365 * 86400_000), 'Sun, 31 Feb 2026 12:00:00 GMT', 'Thu, 01 Jan 1970 00:00:00 GMT',
);
const dateHeader = fc.constantFrom(httpDate(NOW), httpDate(NOW - 86400_000), httpDate(NOW + 7 * 86400_000), 'garbage', 'Thu, 01 Jan 1970 00:00:00 GMT');
const headers = fc.record({ 'retry-after': retryAfter, date: dateHeader }, { requiredKeys: [] });
const status = (kind: Kind) =>
  fc.oneof(
    { arbitrary: fc.constant(200), weight: 6 },
    // Dixa's own dispatcher waits out a 429 for real (up to 10 s per retry): its rate limiting has tests of its own.
    { arbitrary: fc.constantFrom(...[201, 204, 301, 400, 401, 403, 404, 409, 422, 500, 502, 503, 504, 418, ...(kind === 'dixa' ? [] : [429])]), weight: 3 },
  );

// Wrong types, missing fields, absurd numbers and dates, in place of any field.
const junk = fc.oneof(
  fc.constantFrom<unknown>(null, true, 0, -1, 1e300, -1e300, 0.5, '', 'x'.repeat(5000), [], {}, [[[]]], '2026-02-31T00:00:00Z', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '+275760-09-13T00:00:00Z'),
  fc.string({ maxLength: 8, unit: 'binary-ascii' }),
  fc.integer(),
  fc.double(),
);
const id = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
const item = (kind: Kind) =>
  fc.oneof(
    { arbitrary: id.map((i) => wireItem(kind, i)), weight: 6 },
    {
      arbitrary: fc.tuple(id, fc.constantFrom('subscriptionId', 'id', 'status', 'family', 'events', 'transport', 'expiresAt', 'createdAt', 'expiresIn', 'enabled', 'url', 'name', 'callbackUrl', 'eventTypes', 'headers', 'filters'), fc.option(junk, { nil: undefined })).map(([i, field, value]) => {
        const w = wireItem(kind, i);
        if (value === undefined) delete w[field];
        else w[field] = value;
        return w;
      }),
      weight: 3,
    },
    {
      arbitrary: fc.tuple(id, fc.constantFrom(-5, 0, 0.5, 1e300, 2 ** 53, -1e300), fc.constantFrom('1970-01-01T00:00:00Z', '2026-03-01T12:00:00+14:00', '9999-12-31T23:59:59Z')).map(([i, expiresIn, expiresAt]) => wireItem(kind, i, { expiresIn, expiresAt })),
      weight: 1,
    },
    { arbitrary: junk, weight: 1 },
  );
const page = (kind: Kind) =>
  fc.record({
    items: fc.array(item(kind), { maxLength: 30 }),
    next: fc.constantFrom('', '/next', undefined),
    totalPages: fc.option(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(1e300)), { nil: undefined }),
  });

/** One answer: mostly a page, sometimes something no client should take. */
const answer = (kind: Kind): fc.Arbitrary<Answer> =>
  fc.oneof(
    { arbitrary: fc.record({ status: status(kind), headers, p: page(kind) }).map(({ status, headers, p }) => ({ status, headers, body: listBody(kind, p.items, { ...(p.next !== undefined ? { next: p.next } : {}), ...(p.totalPages !== undefined ? { totalPages: p.totalPages } : {}) }) })), weight: 12 },
    { arbitrary: fc.record({ status: status(kind), headers, body: junk }), weight: 2 },
    { arbitrary: fc.record({ status: status(kind), headers }).map((a) => ({ ...a, raw: `<html><body>${'<h1>Service Unavailable</h1>\n'.repeat(50)}</body></html>` })), weight: 1 },
    { arbitrary: fc.record({ status: status(kind), p: page(kind) }).map(({ status, p }) => ({ status, raw: JSON.stringify(listBody(kind, p.items)).slice(0, -3) })), weight: 1 },
    { arbitrary: fc.record({ status: status(kind), body: fc.integer({ min: 65, max: 2000 }).map((d) => JSON.parse(`${'['.repeat(d)}${']'.repeat(d)}`) as unknown) }), weight: 1 },
    { arbitrary: fc.record({ status: status(kind), declareLength: fc.boolean() }).map((a) => ({ ...a, hugeBytes: 1024 * 1024 + 1 })), weight: 1 },
    { arbitrary: fc.constant<Answer>({ cut: true, body: listBody(kind, [wireItem(kind, 'a')]) }), weight: 1 },
    { arbitrary: fc.constant<Answer>({ stall: true }), weight: 1 },
  );
const tokenAnswer = fc.oneof(
  { arbitrary: fc.constant(validToken), weight: 8 },
  {
    arbitrary: fc.oneof(
      fc.record({ status: fc.constantFrom(400, 401, 500, 503), headers, body: fc.constantFrom<unknown>({ error: 'invalid_client', error_description: 'd'.repeat(10_000) }, { error: 5 }, null, 'x'.repeat(1000)) }),
      fc.record({ body: fc.record({ access_token: fc.oneof(fc.constant('tok'), fc.constant('a\r\nb'), junk), expires_in: fc.oneof(fc.constant(300), junk) }) }),
    ),
    weight: 2,
  },
);
const scenario = (kind: Kind) => fc.record({ api: fc.array(answer(kind), { minLength: 1, maxLength: 5 }), token: fc.array(tokenAnswer, { minLength: 1, maxLength: 2 }) });

/** Settles within the deadline or fails the run: a hang is a finding, not a stuck suite. */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no outcome within ${RUN_DEADLINE_MS} ms`)), RUN_DEADLINE_MS)));
  try {
    return { ok: true, value: await Promise.race([p, deadline]) };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('no outcome within')) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

function checkError(error: unknown): void {
  if (!(error instanceof ProviderError)) throw new Error(`not a ProviderError: ${String(error)}`, { cause: error });
  expect(CODES).toContain(error.code);
  expect(['retryable', 'terminal', 'auth']).toContain(error.retry);
  const ra = error.details.retryAfterSeconds;
  if (ra !== undefined) expect(Number.isFinite(ra) && ra >= 0 && ra <= MAX_RETRY_AFTER_SECONDS, `retryAfterSeconds ${ra}`).toBe(true);
  expect(error.message.length).toBeLessThan(1200);
}

function checkListing(list: ObservedSubscription[]): void {
  expect(new Set(list.map((o) => o.remoteId)).size).toBe(list.length);
  for (const o of list) {
    expect(typeof o.remoteId === 'string' && o.remoteId.length > 0).toBe(true);
    expect(['ACTIVE', 'INACTIVE', 'PENDING', 'DISABLED']).toContain(o.status);
    for (const d of [o.createdAt, o.expiresAt]) if (d !== undefined) expect(Number.isFinite(d.getTime())).toBe(true);
    if (o.expiresIn !== undefined) expect(Number.isFinite(o.expiresIn) && o.expiresIn >= 0 && o.expiresIn <= 10 * 365 * 86400).toBe(true);
    expect(typeof o.fingerprint).toBe('string');
  }
}

const seen = { data: 0, errors: new Set<string>() };

async function run(kind: Kind, sc: { api: Answer[]; token: Answer[] }, call: (p: Provider) => Promise<unknown>, check: (v: never) => void): Promise<void> {
  fake.script(sc.api, sc.token);
  const provider = makeProvider(kind, fake.url, dispatcher, '300ms');
  const outcome = await settle(call(provider));
  if (outcome.ok) {
    check(outcome.value as never);
    seen.data++;
  } else {
    checkError(outcome.error);
    seen.errors.add((outcome.error as ProviderError).code);
  }
  // Every answer may be retried; after the scripted ones, the last repeats, which paging treats as the end.
  expect(fake.counts.api).toBeLessThanOrEqual((sc.api.length + 1) * ATTEMPTS_PER_ANSWER);
  expect(fake.counts.token).toBeLessThanOrEqual((sc.api.length + 1) * ATTEMPTS_PER_ANSWER);
}

describe.each(['avaya-infinity', 'axp-notification', 'axp-digital', 'dixa'] as const)('%s client on generated answers', (kind) => {
  it('list() returns each subscription once, or a ProviderError', async () => {
    await fc.assert(fc.asyncProperty(scenario(kind), (sc) => run(kind, sc, (p) => p.list(), checkListing)), { numRuns: 60 });
  });

  it('get() returns a subscription, undefined, or a ProviderError', async () => {
    const single = (kind: Kind) =>
      fc.oneof(
        { arbitrary: fc.record({ status: status(kind), headers, body: item(kind).map((w) => (kind === 'dixa' ? { data: w } : w)) }), weight: 6 },
        { arbitrary: answer(kind), weight: 2 },
      );
    await fc.assert(
      fc.asyncProperty(fc.record({ api: fc.array(single(kind), { minLength: 1, maxLength: 2 }), token: fc.array(tokenAnswer, { minLength: 1, maxLength: 2 }) }), (sc) =>
        run(kind, sc, (p) => p.get('a'), (o: ObservedSubscription | undefined) => o === undefined || checkListing([o])),
      ),
      { numRuns: 25 },
    );
  });
});

// The generators reach both outcomes, and the error codes that matter, not just one kind of answer.
it('the generated answers gave data and every kind of failure', () => {
  expect(seen.data).toBeGreaterThan(20);
  expect([...seen.errors].sort()).toEqual(expect.arrayContaining(['PROVIDER_BAD_RESPONSE', 'PROVIDER_NETWORK', 'PROVIDER_SERVER_ERROR', 'PROVIDER_TIMEOUT']));
});
