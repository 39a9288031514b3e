import { BearerApi, type BearerApiOptions } from './api.js';
import { wirePage, wireSubscription, type CreateSubscriptionBody, type WireSubscription } from './wire.js';

/** The API's own bound on pageNumber (1 to 1000). */
export const MAX_PAGES = 1000;

/**
 * The paged subscription API shared by Avaya Infinity (/api/events/v1) and AXP Notification
 * (/api/notification/v1/accounts/{accountId}): create, list, get, PATCH (Infinity only),
 * :renew, delete.
 */
export class AvayaSubscriptionClient extends BearerApi {
  constructor(opts: BearerApiOptions & { pageSize: number }) {
    super(opts);
    this.pageSize = opts.pageSize;
  }
  readonly pageSize: number;

  async create(body: CreateSubscriptionBody, signal?: AbortSignal): Promise<WireSubscription> {
    return this.expect(await this.call('create', 'POST', '/subscriptions', body, signal), [201, 200], 'POST', '/subscriptions', wireSubscription);
  }

  async listPage(pageNumber: number, signal?: AbortSignal) {
    const path = `/subscriptions?pageNumber=${pageNumber}&pageSize=${this.pageSize}`;
    return this.expect(await this.call('list', 'GET', path, undefined, signal), [200], 'GET', path, wirePage);
  }

  /**
   * Every page, each subscription once (the first occurrence wins). Stops at the last page
   * (links.next blank, totalPages reached, or a short page), and also when a page brings no
   * subscription not seen before: a provider that repeats a page, or ignores pageNumber,
   * cannot make a listing loop or count a subscription twice. At most MAX_PAGES requests.
   */
  async listAll(signal?: AbortSignal): Promise<WireSubscription[]> {
    const byId = new Map<string, WireSubscription>();
    for (let page = 1; page <= MAX_PAGES; page++) {
      const p = await this.listPage(page, signal);
      let fresh = 0;
      for (const s of p.subscriptions) {
        if (byId.has(s.subscriptionId)) continue;
        byId.set(s.subscriptionId, s);
        fresh++;
      }
      const totalPages = p.pagination?.totalPages;
      const last = p.subscriptions.length < this.pageSize || (totalPages !== undefined && page >= totalPages) || (p.links !== undefined && !p.links.next);
      if (last || fresh === 0) break;
    }
    return [...byId.values()];
  }

  /** undefined when the provider answers 404. */
  async get(id: string, signal?: AbortSignal): Promise<WireSubscription | undefined> {
    const path = `/subscriptions/${encodeURIComponent(id)}`;
    const res = await this.call('get', 'GET', path, undefined, signal);
    if (res.status === 404) return undefined;
    return this.expect(res, [200], 'GET', path, wireSubscription);
  }

  async patch(id: string, body: Partial<CreateSubscriptionBody>, signal?: AbortSignal): Promise<WireSubscription> {
    const path = `/subscriptions/${encodeURIComponent(id)}`;
    return this.expect(await this.call('update', 'PATCH', path, body, signal), [200], 'PATCH', path, wireSubscription);
  }

  /** Renew (or reactivate). The body is optional; when sent it rotates the webhook's auth token. */
  async renew(id: string, body?: { transport: { authToken: string } }, signal?: AbortSignal): Promise<WireSubscription> {
    const path = `/subscriptions/${encodeURIComponent(id)}:renew`;
    return this.expect(await this.call('renew', 'POST', path, body, signal), [200], 'POST', path, wireSubscription);
  }

  remove(id: string, signal?: AbortSignal): Promise<void> {
    return this.delete(`/subscriptions/${encodeURIComponent(id)}`, signal);
  }
}
