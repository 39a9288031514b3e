import { createHash } from 'node:crypto';
import type { StatusDocument } from './status.js';

/**
 * The status page. The server renders it whole, so it reads without JavaScript; a small
 * inline script then makes it live: every second it recounts each countdown from the
 * absolute time in its data-at attribute, and every 10 s it reads /status.json and renders
 * the sections again with the same code (statusView's source is embedded in the page), so
 * the first render and every later one cannot drift apart.
 */

/** Buttons above the tables; only the demo passes them (its break and mend routes). */
export interface PageControls {
  note: string;
  buttons: { label: string; path: string }[];
}

/** How often the page reads /status.json again. */
export const REFRESH_SECONDS = 10;

/**
 * Renders the sections from the status document, and recounts countdowns in a live page.
 * Self-contained on purpose (no imports, no outer names, only what both Node and browsers
 * have): its source runs in the page as it is.
 */
export function statusView() {
  /** An expiry closer than this is shown as imminent (the HookwardenSubscriptionExpiring alert's threshold). */
  const WARN = 120;
  const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const two = (n: number) => String(n).padStart(2, '0');

  /** 3723 -> "1h 02m 03s": whole seconds, leading empty units left out. */
  function span(seconds: number): string {
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400);
    s %= 86400;
    const h = Math.floor(s / 3600);
    s %= 3600;
    const m = Math.floor(s / 60);
    s %= 60;
    if (d) return `${d}d ${h}h ${two(m)}m ${two(s)}s`;
    if (h) return `${h}h ${two(m)}m ${two(s)}s`;
    if (m) return `${m}m ${two(s)}s`;
    return `${s}s`;
  }

  /** "2026-01-01 12:00:00 UTC": the same for every reader, whatever their time zone. */
  function absolute(iso: string): string {
    const d = new Date(iso);
    return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} UTC`;
  }

  /** The text of a countdown: `future` or `past` with {} replaced by the time between. */
  function relative(atMs: number, nowMs: number, future: string, past: string): string {
    const left = (atMs - nowMs) / 1000;
    // Rounded towards the future: "in 1s" until the moment itself, then "0s ago".
    return left > 0 ? future.replace('{}', span(Math.ceil(left))) : past.replace('{}', span(-left));
  }

  /** Class of a countdown with a warning threshold: soon (inside it), past, or nothing. */
  function urgency(atMs: number, nowMs: number, warn: number): string {
    if (!warn) return '';
    const left = (atMs - nowMs) / 1000;
    return left <= 0 ? 'past' : left < warn ? 'soon' : '';
  }

  /** A countdown the page keeps counting: absolute time in data-at, the words around it in data-future/data-past. */
  function when(iso: string | null | undefined, nowMs: number, opts: { future?: string; past?: string; warn?: number; exact?: boolean } = {}): string {
    if (!iso) return '';
    const future = opts.future ?? 'in {}';
    const past = opts.past ?? '{} ago';
    const at = Date.parse(iso);
    const cls = urgency(at, nowMs, opts.warn ?? 0);
    const text = esc(relative(at, nowMs, future, past));
    return `<time class="countdown${cls ? ` ${cls}` : ''}" datetime="${esc(iso)}" data-at="${esc(iso)}" data-future="${esc(future)}" data-past="${esc(past)}"${opts.warn ? ` data-warn="${opts.warn}"` : ''} title="${esc(absolute(iso))}">${text}</time>${opts.exact ? ` <small class="at">${esc(absolute(iso))}</small>` : ''}`;
  }

  const badge = (word: string | null | undefined) => `<span class="state">${esc(word)}</span>`;
  const count = (items: string[]) => {
    const n = new Map<string, number>();
    for (const i of items) n.set(i, (n.get(i) ?? 0) + 1);
    return [...n].map(([k, v]) => `${v} ${esc(k)}`).join(', ');
  };
  const key = (provider: string, name: string) => `${provider}/${name}`;

  function render(doc: StatusDocument, nowMs: number): string {
    const history = doc.history ?? [];
    // An intent row is shown only while it has no outcome (a call under way, or cut short).
    const settled = new Set(history.filter((h) => h.phase !== 'intent').map((h) => h.actionId));
    const actions = history.filter((h) => h.phase !== 'intent' || !settled.has(h.actionId));
    const lastAction = new Map<string, (typeof actions)[number]>();
    for (const h of actions) if (!lastAction.has(key(h.provider, h.name))) lastAction.set(key(h.provider, h.name), h);
    const deliveries = new Map<string, StatusDocument['deliveries']>();
    for (const d of doc.deliveries) {
      const k = key(d.provider, d.name);
      deliveries.set(k, [...(deliveries.get(k) ?? []), d]);
    }

    const subscription = (s: StatusDocument['subscriptions'][number]): string => {
      const cb = s.callback;
      const expires = s.expiresAt
        ? when(s.expiresAt, nowMs, { future: 'in {}', past: 'expired {} ago', warn: WARN, exact: true })
        : `<span class="muted">${s.state === 'active' ? 'does not expire' : '—'}</span>`;
      const health = cb
        ? `<span class="health ${esc(cb.health)}">${esc(cb.health)}</span>${cb.consecutiveFailures ? ` <small>${esc(cb.consecutiveFailures)} failed in a row</small>` : ''}${cb.target !== s.name ? ` <small>shared with ${esc(cb.target)}</small>` : ''}`
        : cb === null
          ? '<span class="muted">not probed</span>'
          : '<span class="muted">see Callbacks</span>';
      // Cutoffs projected for its callback target; unknown (—) when the server was not told which target it uses.
      let cutoff = cb === undefined ? '<span class="muted">—</span>' : '<span class="muted">none projected</span>';
      if (cb && cb.disableAt) {
        cutoff = `<div class="cutoff">${when(cb.disableAt, nowMs, { future: 'disables in {}', past: 'presumed disabled {} ago', warn: 3600, exact: true })}</div>`;
        if (cb.deleteAt) cutoff += `<div class="cutoff">${when(cb.deleteAt, nowMs, { future: 'deletes in {}', past: 'presumed deleted {} ago', warn: 3600, exact: true })}</div>`;
      }
      const delivered = (deliveries.get(key(s.provider, s.name)) ?? [])
        .map((d) =>
          d.kind === 'none'
            ? `<div class="delivery none">${esc(d.event)}: no recent delivery</div>`
            : `<div class="delivery ${d.success ? 'ok' : 'failed'}">${esc(d.event)}: <b>${d.success ? 'ok' : 'failed'}</b> ${esc(d.responseCode)} ${when(d.deliveredAt, nowMs)}${d.lastFailureAt ? `<br><small class="err">last failure ${esc(d.lastFailureCode)} ${esc(d.lastFailureText)} ${when(d.lastFailureAt, nowMs)}</small>` : ''}</div>`,
        )
        .join('');
      const a = lastAction.get(key(s.provider, s.name));
      const action = a
        ? `<span class="action ${esc(a.phase)}">${esc(a.action)}</span> <small>${esc(a.reason)}</small> ${when(a.at, nowMs)}${a.phase === 'failed' ? `<br><small class="err">${esc(a.errorCode)}: ${esc(a.error ?? a.message)}</small>` : ''}`
        : '<span class="muted">—</span>';
      const error = s.lastError ? `<div class="err">${esc(s.lastErrorCode)}: ${esc(s.lastError)}</div>` : '';
      return `<tr class="sub ${esc(s.state)}" data-subscription="${esc(key(s.provider, s.name))}">
<td>${esc(s.provider)}<br><small>${esc(s.kind)}</small></td><td>${esc(s.name)}</td>
<td>${badge(s.state)}${s.status && s.status.toLowerCase() !== s.state ? ` <small>${esc(s.status)}</small>` : ''}${error}</td>
<td class="expiry">${expires}</td><td class="callback">${health}</td><td class="cutoffs">${cutoff}</td>
<td class="deliveries">${delivered || '<span class="muted">—</span>'}</td><td class="last-action">${action}</td>
<td><code>${esc(s.remoteId ?? '')}</code>${s.previousRemoteId ? `<br><small>was <code>${esc(s.previousRemoteId)}</code></small>` : ''}</td></tr>`;
    };

    const target = (t: StatusDocument['targets'][number]): string => `<tr class="${esc(t.health)}" data-target="${esc(key(t.provider, t.name))}">
<td>${esc(t.provider)}</td><td>${esc(t.name)}</td><td>${badge(t.health)}</td><td>${esc(t.consecutiveFailures)}</td>
<td>${when(t.unhealthySince, nowMs)}</td>
<td>${when(t.disableAt, nowMs, { future: 'in {}', past: '{} ago', warn: 3600, exact: true })}</td>
<td>${when(t.deleteAt, nowMs, { future: 'in {}', past: '{} ago', warn: 3600, exact: true })}</td>
<td>${t.lastLatencyMs !== null ? `${esc(t.lastLatencyMs)} ms` : ''} ${when(t.lastProbeAt, nowMs)}</td>
<td>${t.lastFailureReason ? `<span class="err">${esc(t.lastFailureClass)}: ${esc(t.lastFailureReason)}</span> ${when(t.lastFailureAt, nowMs)}` : ''}</td>
<td><code>${esc(t.url)}</code></td></tr>`;

    const delivery = (d: StatusDocument['deliveries'][number]): string => `<tr class="${d.kind === 'none' ? 'pending' : d.success ? 'healthy' : 'failing'}">
<td>${esc(d.provider)}</td><td>${esc(d.name)}</td><td>${esc(d.event)}</td>
<td>${d.kind === 'none' ? 'no recent delivery' : when(d.deliveredAt, nowMs)}</td>
<td>${d.kind === 'none' ? '' : `${badge(d.success ? 'ok' : 'failed')} ${esc(d.responseCode)} ${esc(d.responseText)}`}</td>
<td>${d.lastFailureAt ? `<span class="err">${esc(d.lastFailureCode)} ${esc(d.lastFailureText)}</span> ${when(d.lastFailureAt, nowMs)}` : ''}</td></tr>`;

    // Coverage gaps: merged windows, newest first, each with the backfill hook of every gap in it.
    const gaps = doc.gaps;
    const gapById = new Map((gaps ? gaps.gaps : []).map((g) => [g.id, g]));
    const hookText = (g: NonNullable<StatusDocument['gaps']>['gaps'][number]): string => {
      const h = g.hook;
      const word = g.to === null ? 'open' : h.state === 'none' ? 'no hook' : h.state;
      const detail =
        h.state === 'delivered'
          ? ` ${when(h.deliveredAt, nowMs)}`
          : h.state === 'pending' || h.state === 'failed'
            ? `${h.attempts ? ` <small>${esc(h.attempts)} attempt${h.attempts === 1 ? '' : 's'}</small>` : ''}${h.lastError ? ` <small class="err">${esc(h.lastError)}</small>` : ''}${h.state === 'pending' && h.nextAttemptAt ? ` <small>next ${when(h.nextAttemptAt, nowMs)}</small>` : ''}`
            : '';
      return `<div class="hook ${esc(h.state)}"><small>${esc(g.cause)}:</small> <span class="hook-state">${esc(word)}</span>${detail}</div>`;
    };
    const gapWindow = (w: NonNullable<StatusDocument['gaps']>['windows'][number]): string => {
      const open = w.to === null;
      const members = w.gapIds.map((id) => gapById.get(id)).filter((g): g is NonNullable<typeof g> => g !== undefined);
      return `<tr class="gap ${open ? 'open' : 'closed'}" data-gap="${esc(key(w.provider, w.name))}">
<td>${esc(w.provider)}</td><td>${esc(w.name)}</td>
<td>${when(w.from, nowMs, { exact: true })}</td>
<td>${open ? `<span class="state">open</span> ${when(w.from, nowMs, { future: 'starts in {}', past: 'for {}' })}` : `${when(w.to, nowMs, { exact: true })}<br><small>${esc(span(w.seconds))}</small>`}</td>
<td>${w.causes.map((c) => esc(c)).join(', ')}</td><td>${esc(w.confidence)}</td>
<td><small>${w.events.map((e) => esc(e)).join(', ') || '—'}</small></td>
<td class="hooks">${members.map(hookText).join('') || '<span class="muted">—</span>'}</td></tr>`;
    };

    const held = doc.leases.filter((l) => l.held);
    const cutoffs = doc.subscriptions.filter((s) => s.callback && s.callback.disableAt).map((s) => s.callback!.disableAt!).sort();
    const summary = [
      `${doc.subscriptions.length} subscription${doc.subscriptions.length === 1 ? '' : 's'}${doc.subscriptions.length ? `: ${count(doc.subscriptions.map((s) => s.state))}` : ''}`,
      `${doc.targets.length} callback${doc.targets.length === 1 ? '' : 's'}${doc.targets.length ? `: ${count(doc.targets.map((t) => t.health))}` : ''}`,
      ...(cutoffs[0] ? [`<span class="err">earliest projected cutoff ${when(cutoffs[0], nowMs, { future: 'in {}', past: '{} ago' })}</span>`] : []),
      ...(gaps && gaps.open ? [`<span class="err">${esc(gaps.open)} open coverage gap${gaps.open === 1 ? '' : 's'}</span>`] : []),
    ];
    return `<p class="summary">${summary.join(' · ')}</p>
<h2>Subscriptions</h2>
<table class="subscriptions"><thead><tr><th>Account</th><th>Name</th><th>State</th><th>Expires</th><th>Callback</th><th>Provider cutoff</th><th>Deliveries</th><th>Last action</th><th>Remote id</th></tr></thead><tbody>
${doc.subscriptions.map(subscription).join('\n') || '<tr><td colspan="9">nothing recorded yet</td></tr>'}
</tbody></table>
<h2>Callbacks</h2>
<table class="callbacks"><thead><tr><th>Account</th><th>Target</th><th>Health</th><th>Failures</th><th>Unhealthy since</th><th>Provider disables</th><th>Provider deletes</th><th>Last probe</th><th>Last failure</th><th>URL</th></tr></thead><tbody>
${doc.targets.map(target).join('\n') || '<tr><td colspan="10">no callbacks probed</td></tr>'}
</tbody></table>
${
  gaps
    ? `<h2>Coverage gaps</h2>
<p class="note"><small>Windows in which events may not have reached the callback: open ones, and those that ended since ${esc(absolute(gaps.since))}. Overlapping gaps are merged; each closed gap's backfill hook is shown with its state.</small></p>
<table class="gaps"><thead><tr><th>Account</th><th>Name</th><th>From</th><th>To</th><th>Causes</th><th>Confidence</th><th>Events</th><th>Backfill hook</th></tr></thead><tbody>
${gaps.windows.map(gapWindow).join('\n') || '<tr><td colspan="8">no coverage gaps</td></tr>'}
</tbody></table>`
    : ''
}
${
  doc.deliveries.length
    ? `<h2>Deliveries (as the provider reports them)</h2>
<table class="deliveries"><thead><tr><th>Account</th><th>Subscription</th><th>Event</th><th>Last delivery</th><th>Result</th><th>Last failure</th></tr></thead><tbody>
${doc.deliveries.map(delivery).join('\n')}
</tbody></table>`
    : ''
}
${
  held.length
    ? `<h2>Replicas</h2>
<table class="replicas"><thead><tr><th>Account</th><th>Held by</th><th>Since</th><th>Until</th></tr></thead><tbody>
${held.map((l) => `<tr><td>${esc(l.provider)}</td><td><code>${esc(l.holder)}</code></td><td>${when(l.since, nowMs)}</td><td>${when(l.expiresAt, nowMs)}</td></tr>`).join('\n')}
</tbody></table>`
    : ''
}
<h2>Recent actions</h2>
<table class="actions"><thead><tr><th>When</th><th>Account</th><th>Name</th><th>Action</th><th>Reason</th><th>Outcome</th><th>Message</th></tr></thead><tbody>
${
  actions
    .map(
      (h) =>
        `<tr class="${esc(h.phase)}"><td>${when(h.at, nowMs)}</td><td>${esc(h.provider)}</td><td>${esc(h.name)}</td><td>${esc(h.action)}</td><td>${esc(h.reason)}</td><td>${badge(h.phase === 'intent' ? 'under way' : h.phase)}</td><td>${h.error ? `<span class="err">${esc(h.errorCode)}: ${esc(h.error)}</span>` : esc(h.message)}</td></tr>`,
    )
    .join('\n') || '<tr><td colspan="7">no actions recorded</td></tr>'
}
</tbody></table>`;
  }

  /** Recounts every countdown under `root` (in the page, once a second). */
  function tick(root: { querySelectorAll(selector: string): Iterable<unknown> }, nowMs: number): void {
    for (const node of root.querySelectorAll('time[data-at]')) {
      const el = node as { dataset: Record<string, string | undefined>; textContent: string | null; classList: { toggle(c: string, on: boolean): void } };
      const at = Date.parse(el.dataset.at ?? '');
      if (Number.isNaN(at)) continue;
      const text = relative(at, nowMs, el.dataset.future ?? 'in {}', el.dataset.past ?? '{} ago');
      if (el.textContent !== text) el.textContent = text;
      const cls = urgency(at, nowMs, Number(el.dataset.warn ?? 0));
      el.classList.toggle('soon', cls === 'soon');
      el.classList.toggle('past', cls === 'past');
    }
  }

  return { render, tick, span, absolute, relative, esc };
}

const view = statusView();

/** The page's script: counts down every second, reads /status.json every REFRESH_SECONDS, drives the demo's buttons. */
const SCRIPT = `"use strict";
(() => {
  const view = (${statusView.toString()})();
  const main = document.getElementById('status');
  const live = document.getElementById('live');
  const notice = document.getElementById('notice');
  // The server's clock is the reference: countdowns follow it, whatever this machine's clock says.
  let offset = Date.parse(document.body.dataset.generated) - Date.now();
  let readAt = Date.now();
  const now = () => Date.now() + offset;
  const say = (text) => {
    notice.textContent = text;
    notice.hidden = !text;
  };
  const tick = () => {
    view.tick(document, now());
    live.textContent = 'data read ' + view.span((Date.now() - readAt) / 1000) + ' ago';
  };
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch('status.json', { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
      if (r.status === 503) return say('The database does not answer: this is what it last said. Countdowns keep running.');
      if (r.status === 401) return say('Not authorized: /status.json wants the bearer token. Reload the page through whatever adds it.');
      if (!r.ok) return say('hookwarden answered ' + r.status + ': this is what it last said.');
      const doc = await r.json();
      offset = Date.parse(doc.generatedAt) - Date.now();
      readAt = Date.now();
      main.innerHTML = view.render(doc, now());
      say('');
      tick();
    } catch (e) {
      say('hookwarden does not answer: this is what it last said. Countdowns keep running.');
    } finally {
      busy = false;
    }
  };
  setInterval(tick, 1000);
  setInterval(refresh, ${REFRESH_SECONDS * 1000});
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  for (const form of document.querySelectorAll('form.controls')) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const button = e.submitter;
      if (!button) return;
      try {
        const r = await fetch(button.formAction, { method: 'POST', credentials: 'same-origin' });
        say(r.ok ? '' : button.textContent + ': hookwarden answered ' + r.status);
      } catch (err) {
        say(button.textContent + ': hookwarden does not answer');
      }
      refresh();
    });
  }
  tick();
})();
`;

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em 2em;color:#1d1d1f}
h1{margin:0 0 .2em}h2{margin:1.4em 0 .4em;font-size:1.15em}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #e2e2e2;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4;font-weight:600}
small{color:#666}code{font-size:12px}.muted{color:#999}
.state,.health{display:inline-block;padding:.05em .55em;border-radius:.7em;background:#e4e4e4;font-weight:600}
tr.active .state,tr.healthy .state,tr.succeeded .state,.health.healthy{background:#cdeccd}
tr.pending .state,tr.inactive .state,tr.failing .state,tr.intent .state,tr.skipped .state,.health.failing{background:#f8e6b0}
tr.sub.failing .state,tr.rejected .state,tr.disabled .state,tr.unhealthy .state,tr.presumed-disabled .state,tr.presumed-deleted .state,tr.failed .state,
.health.unhealthy,.health.presumed-disabled,.health.presumed-deleted{background:#f6c6c6}
tr.deleted{color:#999}
tr.gap.open .state{background:#f6c6c6}.hook.delivered .hook-state{color:#1b6e1b}.hook.pending .hook-state{color:#8a5a00}.hook.failed .hook-state{color:#a40000}
.err{color:#a40000}
time.countdown{font-variant-numeric:tabular-nums;white-space:nowrap}
time.soon{color:#8a5a00;font-weight:600}time.past{color:#a40000;font-weight:600}
.cutoff time{font-weight:600}.at{white-space:nowrap}
.delivery.ok b{color:#1b6e1b}.delivery.failed b{color:#a40000}
.action.failed{color:#a40000}
#notice{background:#fff3cd;border:1px solid #e0c060;padding:.5em .8em}
.controls{margin:.8em 0;padding:.6em .8em;background:#f0f4ff;border:1px solid #c8d4f0}
.controls button{margin-right:.5em}
header p{margin:.2em 0;color:#555}
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

// A script element ends at the first "</script" whatever surrounds it; the renderer's source holds none.
if (/<\/script|<!--|<script/i.test(SCRIPT)) throw new Error('the status page script must not contain "</script", "<script" or "<!--"');

/**
 * What the page may do: its own inline script and style (by hash), fetches and form posts
 * to this server, nothing else (no frames, no other origins).
 */
export const PAGE_CSP = `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLE)}; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

const esc = view.esc;

/** The whole page: header, the demo's controls when given, the sections, and the script. */
export function statusPage(doc: StatusDocument, opts: { controls?: PageControls | undefined } = {}): string {
  const nowMs = Date.parse(doc.generatedAt);
  const controls = opts.controls
    ? `<form class="controls" method="post">${opts.controls.buttons.map((b) => `<button formaction="${esc(b.path)}">${esc(b.label)}</button>`).join('\n')}
<small>${esc(opts.controls.note)}</small></form>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>hookwarden status</title>
<style>${STYLE}</style></head>
<body data-generated="${esc(doc.generatedAt)}">
<header><h1>hookwarden</h1>
<p><span id="live">as of ${esc(view.absolute(doc.generatedAt))}</span> (countdowns tick every second; data read again every ${REFRESH_SECONDS} s) · <a href="status.json">JSON</a> · <a href="metrics">metrics</a></p>
<p id="notice" role="status" hidden></p>
${controls}</header>
<main id="status">
${view.render(doc, nowMs)}
</main>
<script>${SCRIPT}</script>
</body></html>`;
}
