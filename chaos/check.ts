import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lapse, SandboxAudit, Twice } from '../src/sandbox/audit.js';
import type { Declared } from './config.js';

/** What the sandboxes' audits say, folded over every sandbox. */
export interface AuditSummary {
  identities: ReturnType<SandboxAudit['report']>['identities'];
  lapses: (Lapse & { name?: string })[];
  twice: (Twice & { name?: string })[];
  afterAmbiguous: (Twice & { name?: string })[];
  calls: Record<string, number>;
}

export function summarize(audits: SandboxAudit[], declared: Declared[]): AuditSummary {
  const names = new Map(declared.map((d) => [d.identity, d.name]));
  const out: AuditSummary = { identities: [], lapses: [], twice: [], afterAmbiguous: [], calls: {} };
  for (const a of audits) {
    const r = a.report();
    out.identities.push(...r.identities);
    out.lapses.push(...r.lapses.map((l) => ({ ...l, name: names.get(l.identity) })));
    out.twice.push(...r.twice.map((t) => ({ ...t, name: names.get(t.identity) })));
    out.afterAmbiguous.push(...r.afterAmbiguous.map((t) => ({ ...t, name: names.get(t.identity) })));
    for (const [k, v] of Object.entries(r.calls)) out.calls[k] = (out.calls[k] ?? 0) + v;
  }
  return out;
}

/**
 * A lapse that counts: the subscription went INACTIVE or expired (events stopped, whatever
 * came after), or was disabled or deleted by the provider and never recreated or re-enabled.
 */
export function countsAsLapse(l: Lapse): boolean {
  return l.why === 'expired' || !l.recoveredAt;
}

export interface FinalCheck {
  ok: boolean;
  missing: string[];
  duplicated: string[];
  inactive: string[];
  /** Live subscriptions at the providers that match nothing declared. */
  undeclared: string[];
}

/** Every declared subscription exists exactly once and is ACTIVE; nothing else is live. */
export function finalCheck(s: AuditSummary, declared: Declared[]): FinalCheck {
  const byIdentity = new Map(s.identities.map((i) => [i.identity, i]));
  const wanted = new Set(declared.map((d) => d.identity));
  const r: FinalCheck = { ok: true, missing: [], duplicated: [], inactive: [], undeclared: [] };
  for (const d of declared) {
    const i = byIdentity.get(d.identity);
    if (!i || i.live === 0) r.missing.push(d.name);
    else if (i.live > 1) r.duplicated.push(d.name);
    else if (i.active !== 1) r.inactive.push(d.name);
  }
  for (const i of s.identities) if (!wanted.has(i.identity) && i.live > 0) r.undeclared.push(`${i.identity} (${i.live})`);
  r.ok = r.missing.length + r.duplicated.length + r.inactive.length + r.undeclared.length === 0;
  return r;
}

export interface SecretHit {
  slot: string;
  file: string;
  occurrences: number;
  form: string;
}

/**
 * Looks for every secret in every log file: as written, and in the encodings that carry it
 * on the wire (Basic credentials in base64).
 */
export function scanLogs(dir: string, canaries: Map<string, string>, extra: Map<string, string>, basicUser: string): SecretHit[] {
  const hits: SecretHit[] = [];
  const forms: { slot: string; form: string; needle: string }[] = [];
  for (const [slot, value] of canaries) {
    forms.push({ slot, form: 'plain', needle: value });
    if (slot.endsWith('.password')) forms.push({ slot, form: 'basic-auth base64', needle: Buffer.from(`${basicUser}:${value}`).toString('base64') });
  }
  for (const [slot, value] of extra) forms.push({ slot, form: 'plain', needle: value });
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) {
    const text = readFileSync(join(dir, f), 'utf8');
    for (const { slot, form, needle } of forms) {
      let n = 0;
      for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
      if (n) hits.push({ slot, file: f, occurrences: n, form });
    }
  }
  return hits;
}

/** Replaces every secret in a text by the name of its slot (for what the harness itself writes). */
export function scrub(text: string, canaries: Map<string, string>): string {
  let t = text;
  for (const [slot, value] of canaries) t = t.split(value).join(`[${slot}]`);
  return t;
}
