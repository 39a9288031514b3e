import { describe, expect, it } from 'vitest';
import { MAX_PAGES } from '../../src/providers/avaya-common/client.js';
import { listBody, useFakeProvider, makeProvider, wireItem, type Answer, type Kind } from './fake-provider.js';

/** Listings: each subscription once (the first occurrence wins), and paging that cannot loop. */

const { fake, dispatcher } = useFakeProvider();

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const page = (kind: Kind, pageIds: string[], next = '/next') => ({ body: listBody(kind, pageIds.map((id) => wireItem(kind, id)), { next }) });
const list = async (kind: Kind, answers: Answer[]) => {
  fake.script(answers);
  const out = await makeProvider(kind, fake.url, dispatcher).list();
  return { ids: out.map((o) => o.remoteId), requests: fake.counts.api, out };
};

describe.each(['avaya-infinity', 'axp-notification'] as const)('%s paging', (kind) => {
  it.each([
    { name: 'a provider that repeats its first page', answers: [page(kind, ids('a', 25)), page(kind, ids('a', 25))], want: { n: 25, requests: 2 } },
    { name: 'a provider that ignores pageNumber (the last answer repeats)', answers: [page(kind, ids('a', 25))], want: { n: 25, requests: 2 } },
    { name: 'a second page that adds some, then one that adds none', answers: [page(kind, ids('a', 25)), page(kind, [...ids('a', 20), ...ids('b', 5)]), page(kind, [...ids('b', 5), ...ids('a', 20)])], want: { n: 30, requests: 3 } },
    { name: 'an ordinary last page (next blank)', answers: [page(kind, ids('a', 25)), page(kind, ids('b', 25), '')], want: { n: 50, requests: 2 } },
    { name: 'a short page', answers: [page(kind, ids('a', 25)), page(kind, ids('b', 3))], want: { n: 28, requests: 2 } },
    { name: 'an empty page with a next link', answers: [page(kind, ids('a', 25)), page(kind, [])], want: { n: 25, requests: 2 } },
  ])('stops on $name', async ({ answers, want }) => {
    const r = await list(kind, answers);
    expect(new Set(r.ids).size).toBe(r.ids.length);
    expect({ n: r.ids.length, requests: r.requests }).toEqual(want);
  });

  it('keeps the first occurrence of an id listed twice on one page', async () => {
    const items = [wireItem(kind, 'x', { status: 'ACTIVE' }), wireItem(kind, 'y'), wireItem(kind, 'x', { status: 'INACTIVE' })];
    const r = await list(kind, [{ body: listBody(kind, items) }]);
    expect(r.ids).toEqual(['x', 'y']);
    expect(r.out[0]!.status).toBe('ACTIVE');
  });
});

it(`a provider that always has a new full page stops at ${MAX_PAGES} pages`, async () => {
  const answers = Array.from({ length: MAX_PAGES + 5 }, (_, p) => page('avaya-infinity', ids(`p${p}-`, 25)));
  const r = await list('avaya-infinity', answers);
  expect(r.requests).toBe(MAX_PAGES);
  expect(r.ids.length).toBe(MAX_PAGES * 25);
});

describe.each(['axp-digital', 'dixa'] as const)('%s listing', (kind) => {
  it('keeps the first occurrence of an id listed twice', async () => {
    const first = kind === 'dixa' ? { enabled: true } : {};
    const second = kind === 'dixa' ? { enabled: false } : { status: 'DISABLED' };
    const r = await list(kind, [{ body: listBody(kind, [wireItem(kind, 'x', first), wireItem(kind, 'y'), wireItem(kind, 'x', second), wireItem(kind, 'y')]) }]);
    expect(r.ids).toEqual(['x', 'y']);
    expect(r.out[0]!.status).toBe('ACTIVE');
    expect(r.requests).toBe(1);
  });
});
