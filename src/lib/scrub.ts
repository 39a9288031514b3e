import type { DestinationStream } from 'pino';
import type { Config } from '../config/load.js';

/**
 * One scrubber for every string that leaves the process: log lines, Postgres rows, /status
 * (HTML and JSON), /metrics and CLI output. Providers answer errors with text of their own,
 * and a body that echoes the request would carry a token, a client secret or a callback
 * password into the record; redaction by log path cannot see inside such text, this can.
 *
 * Each registered secret is replaced wherever it appears in one of its derived forms:
 *  - the raw value (which also covers `Bearer <token>` and any header that embeds it);
 *  - base64, whole and at each byte alignment inside a longer base64 text, so that
 *    `Basic base64(user:pass)` is caught even when only the password is known;
 *  - URL-encoded (encodeURIComponent and form encoding);
 *  - JSON-escaped, once and twice (a serialized log line holding a JSON body);
 *  - HTML-escaped as the status page escapes it.
 * Where matches overlap (one secret inside or across another), the whole span is replaced.
 *
 * Values shorter than MIN_SECRET_LENGTH characters are ignored: replacing every "ab" would
 * mangle the output, and a secret that short protects nothing.
 *
 * Cost: one pass over the string whatever the number of secrets (thousands, with a
 * provider-issued key per subscription). Every form is indexed by the hash of a window of
 * MIN_SECRET_LENGTH characters; the scan rolls the same hash along the string and almost
 * always moves on after one table read. Adding or replacing a secret updates the index in
 * place (nothing is rebuilt), and a string is returned as is when nothing is registered.
 */
export const REDACTED = '[redacted]';
export const MIN_SECRET_LENGTH = 4;
/** base64 fragments taken from inside a longer text must be at least this long to count. */
const MIN_FRAGMENT_LENGTH = 8;
/** Values kept per runtime slot: the current one and the one it replaced (still in flight). */
const SLOT_DEPTH = 2;
/** Size of the table of window hashes that lets the scan skip a position at once. */
const FILTER_BITS = 18;

/**
 * Polynomial hash of the MIN_SECRET_LENGTH (4) UTF-16 code units of `s` at `i` (mod 2^32),
 * which the scan rolls forward one character at a time.
 */
const BASE = 0x01000193;
const BASE3 = Math.imul(Math.imul(BASE, BASE), BASE);
function windowHash(s: string, i: number): number {
  let h = 0;
  for (let k = 0; k < MIN_SECRET_LENGTH; k++) h = (Math.imul(h, BASE) + s.charCodeAt(i + k)) | 0;
  return h;
}
const FILTER_SHIFT = 32 - FILTER_BITS;
const filterSlot = (h: number) => Math.imul(h, 0x9e3779b1) >>> FILTER_SHIFT;

/**
 * The forms to look for. Each is indexed by the hash of one window of MIN_SECRET_LENGTH
 * characters inside it, the window whose bucket is least used when it is added, so that
 * secrets sharing a prefix (JWTs all start with "eyJhbGciOi") do not pile into one bucket.
 * Forms are counted, so a form shared by two secrets stays while either does.
 */
class FormIndex {
  readonly #filter = new Uint16Array(1 << FILTER_BITS);
  /** By window hash: the forms anchored there, with the window's offset inside each. */
  readonly #buckets = new Map<number, { form: string; at: number }[]>();
  readonly #refs = new Map<string, { count: number; hash: number }>();

  get empty(): boolean {
    return this.#refs.size === 0;
  }

  add(form: string): void {
    const known = this.#refs.get(form);
    if (known) {
      known.count++;
      return;
    }
    let at = 0;
    let hash = windowHash(form, 0);
    let used = this.#buckets.get(hash)?.length ?? 0;
    for (let k = 1; used > 0 && k + MIN_SECRET_LENGTH <= form.length; k++) {
      const h = windowHash(form, k);
      const n = this.#buckets.get(h)?.length ?? 0;
      if (n < used) [at, hash, used] = [k, h, n];
    }
    this.#refs.set(form, { count: 1, hash });
    const bucket = this.#buckets.get(hash);
    if (bucket) bucket.push({ form, at });
    else this.#buckets.set(hash, [{ form, at }]);
    const slot = filterSlot(hash);
    if (this.#filter[slot]! < 0xffff) this.#filter[slot]!++;
  }

  remove(form: string): void {
    const known = this.#refs.get(form);
    if (!known) return;
    if (--known.count > 0) return;
    this.#refs.delete(form);
    const bucket = (this.#buckets.get(known.hash) ?? []).filter((e) => e.form !== form);
    if (bucket.length) this.#buckets.set(known.hash, bucket);
    else this.#buckets.delete(known.hash);
    const slot = filterSlot(known.hash);
    // A saturated counter stays set (a slower scan, never a missed secret).
    if (this.#filter[slot]! > 0 && this.#filter[slot]! < 0xffff) this.#filter[slot]!--;
  }

  clear(): void {
    this.#filter.fill(0);
    this.#buckets.clear();
    this.#refs.clear();
  }

  /** `text` with every span covered by a form replaced (overlapping spans as one); the same string when there is none. */
  scrub(text: string): string {
    if (this.#refs.size === 0 || text.length < MIN_SECRET_LENGTH) return text;
    const filter = this.#filter;
    const buckets = this.#buckets;
    let found: [number, number][] | undefined;
    let h = windowHash(text, 0);
    for (let i = 0, last = text.length - MIN_SECRET_LENGTH; i <= last; i++) {
      // The window hash rolls: drop the character at i-1, take the one at i+3.
      if (i > 0) h = (Math.imul(h - Math.imul(text.charCodeAt(i - 1), BASE3), BASE) + text.charCodeAt(i + MIN_SECRET_LENGTH - 1)) | 0;
      if (filter[Math.imul(h, 0x9e3779b1) >>> FILTER_SHIFT] === 0) continue;
      const bucket = buckets.get(h);
      if (!bucket) continue;
      for (const { form, at } of bucket) {
        const from = i - at;
        if (from >= 0 && text.startsWith(form, from)) (found ??= []).push([from, from + form.length]);
      }
    }
    if (!found) return text;
    found.sort((a, b) => a[0] - b[0]);
    let out = '';
    let copied = 0;
    let [start, end] = found[0]!;
    for (const [s, e] of found) {
      if (s < end) {
        if (e > end) end = e; // overlaps the span under way: extend it
        continue;
      }
      out += text.slice(copied, start) + REDACTED;
      copied = end;
      [start, end] = [s, e];
    }
    return out + text.slice(copied, start) + REDACTED + text.slice(end);
  }
}

export class Scrubber {
  readonly #fixed = new Set<string>();
  readonly #slots = new Map<string, string[]>();
  readonly #index = new FormIndex();

  /**
   * Registers a secret. With a `slot`, the value replaces what the slot held before (an
   * OAuth access token refreshed every few minutes, a provider-issued key): memory stays
   * flat however long the process runs. Values too short to matter are ignored.
   */
  add(value: string | null | undefined, opts: { slot?: string } = {}): void {
    if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
    if (opts.slot === undefined) {
      if (this.#fixed.has(value)) return;
      this.#fixed.add(value);
      for (const f of derivedForms(value)) this.#index.add(f);
      return;
    }
    const held = this.#slots.get(opts.slot) ?? [];
    if (held[0] === value) return;
    const kept = [value, ...held.filter((v) => v !== value)];
    for (const old of kept.splice(SLOT_DEPTH)) for (const f of derivedForms(old)) this.#index.remove(f);
    if (!held.includes(value)) for (const f of derivedForms(value)) this.#index.add(f);
    this.#slots.set(opts.slot, kept);
  }

  /** A user/password pair: the password, and `base64(user:password)` as HTTP Basic sends it. */
  addBasic(user: string, password: string): void {
    this.add(password);
    if (password.length >= MIN_SECRET_LENGTH) this.add(`${user}:${password}`);
  }

  /** How many values are registered. */
  get size(): number {
    let n = this.#fixed.size;
    for (const v of this.#slots.values()) n += v.length;
    return n;
  }

  /** Forgets every secret (tests). */
  clear(): void {
    this.#fixed.clear();
    this.#slots.clear();
    this.#index.clear();
  }

  scrub(text: string): string {
    return this.#index.scrub(text);
  }

  /**
   * Every string inside a JSON-like value, scrubbed (a new value; the input is not changed).
   * Keys listed in `keep` are identities (ids, hashes) and are left as they are.
   */
  scrubValue<T>(value: T, keep: ReadonlySet<string> = NONE): T {
    if (this.#index.empty) return value;
    return this.#deep(value, keep, 0) as T;
  }

  #deep(v: unknown, keep: ReadonlySet<string>, depth: number): unknown {
    if (typeof v === 'string') return this.scrub(v);
    if (v === null || typeof v !== 'object' || depth > 32) return v;
    if (Array.isArray(v)) return v.map((x) => this.#deep(x, keep, depth + 1));
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v; // Dates, Buffers, class instances
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = keep.has(k) ? x : this.#deep(x, keep, depth + 1);
    return out;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** The process-wide scrubber: the logger exists before the config is read, so secrets are added as they become known. */
export const scrubber = new Scrubber();

export function scrub(text: string): string {
  return scrubber.scrub(text);
}

/** For the text served at /metrics (labels are names only; this makes sure). */
export function scrubText(text: string): string {
  return scrubber.scrub(text);
}

const json = (s: string) => JSON.stringify(s).slice(1, -1);
const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
const b64url = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_');
const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Every form in which `v` can show up in text we write. */
export function derivedForms(v: string): string[] {
  if (v.length < MIN_SECRET_LENGTH) return [];
  const forms = new Set<string>([v, json(v), json(json(v)), encodeURIComponent(v), new URLSearchParams({ v }).toString().slice(2), html(v), html(json(v))]);
  const bytes = Buffer.from(v, 'utf8');
  const whole = b64(bytes);
  const padded = bytes.toString('base64');
  forms.add(whole);
  forms.add(padded);
  forms.add(b64url(whole));
  // Inside a longer base64 text the value starts at any byte offset; the characters that
  // encode only its own bytes are the same whatever surrounds it.
  for (const offset of [0, 1, 2]) {
    const enc = b64(Buffer.concat([Buffer.alloc(offset), bytes]));
    const start = offset === 0 ? 0 : 4;
    const full = Math.floor((offset + bytes.length) / 3) * 4;
    const frag = enc.slice(start, full);
    if (frag.length >= MIN_FRAGMENT_LENGTH) {
      forms.add(frag);
      forms.add(b64url(frag));
    }
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

/** A pino destination that scrubs each serialized line before it is written. */
export function scrubbedDestination(inner: DestinationStream, s: Scrubber = scrubber): DestinationStream {
  const target = inner as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void; flushSync?: () => void; end?: () => void };
  return Object.assign(Object.create(null) as object, {
    write: (line: string) => target.write(s.scrub(line)),
    ...(typeof target.flush === 'function' ? { flush: (cb?: (err?: Error) => void) => target.flush!(cb) } : {}),
    ...(typeof target.flushSync === 'function' ? { flushSync: () => target.flushSync!() } : {}),
    ...(typeof target.end === 'function' ? { end: () => target.end!() } : {}),
  }) as DestinationStream;
}

/**
 * A URL as people see it: scheme, host and path; no userinfo, and a query string or
 * fragment shown only as "?…" / "#…" (either may carry a token). Not a URL: scrubbed text.
 */
export function displayUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return scrubber.scrub(url);
  }
  if (!u.host) return scrubber.scrub(url);
  return scrubber.scrub(`${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}${u.hash ? '#…' : ''}`);
}

// --- secrets of the config -------------------------------------------------------------

/** Keys whose string value is a secret (clientSecret, appKey, apiToken, authToken, password…). */
const SECRET_KEY = /secret|passw(or)?d|token|api_?key|app_?key|credential|private_?key/i;
/** …unless they name one (authTokenHeader, tokenUrl, tokenLifetime). */
const NOT_SECRET_KEY = /(header|url|uri|path|type|lifetime|ttl|seconds)$/i;
/** Query parameters that carry secrets in URLs. */
const SECRET_PARAM = /token|secret|key|sig|pass|auth|code|credential/i;

export interface ConfigSecrets {
  values: string[];
  basic: [user: string, password: string][];
}

/** Each provider kind's `secretKeys` (paths into its account block), when the caller has the registry. */
export type SecretKeysByKind = Record<string, { secretKeys: string[] }>;

/**
 * Every secret slot of a loaded config: the account blocks (client secrets, app keys, API
 * tokens, and each kind's declared secretKeys), the callbacks (auth tokens, basic-auth
 * passwords, Dixa token values, every outgoing header value), the watch targets' header
 * values, passwords or secret-looking query parameters inside URLs (database URL included),
 * server.token, and the backfill hooks' auth tokens and signing secrets (top level and per
 * subscription).
 */
export function collectConfigSecrets(config: Config, kinds: SecretKeysByKind = {}): ConfigSecrets {
  const found: ConfigSecrets = { values: [], basic: [] };
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.length > 0) found.values.push(v);
  };
  const fromUrl = (s: string) => {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return;
    try {
      const u = new URL(s);
      if (u.password) {
        add(u.password);
        add(decodeURIComponentSafe(u.password));
      }
      for (const [k, v] of u.searchParams) if (SECRET_PARAM.test(k)) add(v);
    } catch {
      /* not a URL */
    }
  };
  const walk = (v: unknown, key: string, parentKey: string, parent: Record<string, unknown> | undefined, depth: number): void => {
    if (depth > 16) return;
    if (typeof v === 'string') {
      if (SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key)) add(v);
      else if (/^(headers|customHeaders)$/i.test(parentKey)) add(v);
      else if (key === 'value' && (/auth/i.test(parentKey) || parent?._type === 'TokenAuth')) add(v);
      fromUrl(v);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, key, parentKey, parent, depth + 1);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.username === 'string' && typeof o.password === 'string') found.basic.push([o.username, o.password]);
    for (const [k, x] of Object.entries(o)) walk(x, k, key, o, depth + 1);
  };

  for (const a of Object.values(config.accounts)) {
    walk(a.settings, '', '', undefined, 0);
    for (const path of kinds[a.kind]?.secretKeys ?? []) add(at(a.settings, path));
  }
  for (const d of config.desired) {
    walk(d.spec, 'spec', '', undefined, 0);
    if (d.callback) walk(d.callback, 'callback', '', undefined, 0);
  }
  for (const w of config.watch) walk(w, 'watch', '', undefined, 0);
  // The backfill hooks: authToken and signingSecret by their keys, and secrets inside their URLs.
  if (config.hooks?.gapClosed) walk(config.hooks.gapClosed, 'gapClosed', 'hooks', undefined, 0);
  for (const h of Object.values(config.gapHooks ?? {})) if (h) walk(h, 'gapClosed', 'hooks', undefined, 0);
  if (config.databaseUrl) fromUrl(config.databaseUrl);
  // The token /status and /metrics require: a page or a log line must never show it.
  add(config.server?.token);
  return found;
}

/** Adds every secret of the config to the scrubber (the process-wide one by default). */
export function registerConfigSecrets(config: Config, kinds: SecretKeysByKind = {}, s: Scrubber = scrubber): void {
  const { values, basic } = collectConfigSecrets(config, kinds);
  for (const v of values) s.add(v);
  for (const [user, password] of basic) s.addBasic(user, password);
}

function at(o: unknown, path: string): unknown {
  let v = o;
  for (const p of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
