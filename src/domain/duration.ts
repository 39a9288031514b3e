/** Durations as written in the config: "500ms", "20s", "5m", "8h", "7d", or combined ("1h30m"). */
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
const MAX_LENGTH = 64;

/** Seconds in a duration string, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  // No real duration is this long; the bound also keeps the regular expressions cheap.
  if (t.length > MAX_LENGTH || !WHOLE.test(t)) return undefined;
  let seconds = 0;
  for (const m of t.matchAll(PART)) seconds += Number(m[1]) * (UNIT_SECONDS[m[2]!] ?? 0);
  // A long run of digits overflows to Infinity: that is not a duration either.
  return Number.isFinite(seconds) ? seconds : undefined;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  const sign = seconds < 0 ? '-' : '';
  let s = Math.round(Math.abs(seconds));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return sign + parts.join('');
}
