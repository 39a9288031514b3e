import { displayUrl, scrubber } from '../lib/scrub.js';

/**
 * Everything the CLI prints goes through here, and through the scrubber: an error text a
 * provider sent back may echo a secret of the config.
 */

/** Plain aligned columns for people; --json gives machines one document on stdout. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : scrubber.scrub(String(c)))))];
  const widths = headers.map((_, i) => Math.min(60, Math.max(...cells.map((r) => (r[i] ?? '').length))));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function printJson(doc: unknown): void {
  process.stdout.write(`${scrubber.scrub(JSON.stringify(doc, null, 2))}\n`);
}

/** Text for people on stdout. */
export function out(text: string): void {
  process.stdout.write(scrubber.scrub(text));
}

/** Errors and notices on stderr. */
export function err(text: string): void {
  process.stderr.write(scrubber.scrub(text));
}

/** A URL, or a match key that may be one, as it may be shown (no userinfo, no query string). */
export function shownKey(key: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(key) ? displayUrl(key) : scrubber.scrub(key);
}
