import { BearerApi, type BearerApiOptions } from './api.js';
import { wirePage, wireSubscription, type CreateSubscriptionBody, type WireSubscription } from './wire.js';

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
    return this.expect(await this.call('POST', '/subscriptions', body, signal), [201, 200], 'POST', '/subscriptions', wireSubscription);
  }

  async listPage(pageNumber: number, signal?: AbortSignal) {
    const path = `/subscriptions?pageNumber=${pageNumber}&pageSize=${this.pageSize}`;
    return this.expect(await this.call('GET', path, undefined, signal), [200], 'GET', path, wirePage);
  }

  /** Every page. Stops at the last page (links.next blank, totalPages reached, or a short page). */
  async listAll(signal?: AbortSignal): Promise<WireSubscription[]> {
    const all: WireSubscription[] = [];
    for (let page = 1; page <= 1000; page++) {
      const p = await this.listPage(page, signal);
      all.push(...p.subscriptions);
      const totalPages = p.pagination?.totalPages;
      const last = p.subscriptions.length < this.pageSize || (totalPages !== undefined && page >= totalPages) || (p.links !== undefined && !p.links.next);
      if (last) break;
    }
    return all;
  }

  /** undefined when the provider answers 404. */
  async get(id: string, signal?: AbortSignal): Promise<WireSubscription | undefined> {
    const path = `/subscriptions/${encodeURIComponent(id)}`;
    const res = await this.call('GET', path, undefined, signal);
    if (res.status === 404) return undefined;
    return this.expect(res, [200], 'GET', path, wireSubscription);
  }

  async patch(id: string, body: Partial<CreateSubscriptionBody>, signal?: AbortSignal): Promise<WireSubscription> {
    const path = `/subscriptions/${encodeURIComponent(id)}`;
    return this.expect(await this.call('PATCH', path, body, signal), [200], 'PATCH', path, wireSubscription);
  }

  /** Renew (or reactivate). The body is optional; when sent it rotates the webhook's auth token. */
  async renew(id: string, body?: { transport: { authToken: string } }, signal?: AbortSignal): Promise<WireSubscription> {
    const path = `/subscriptions/${encodeURIComponent(id)}:renew`;
    return this.expect(await this.call('POST', path, body, signal), [200], 'POST', path, wireSubscription);
  }

  remove(id: string, signal?: AbortSignal): Promise<void> {
    return this.delete(`/subscriptions/${encodeURIComponent(id)}`, signal);
  }
}
