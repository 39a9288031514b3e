import type { Spec } from '../domain/types.js';

/**
 * Names of the fields (dotted paths) whose values differ between what the config wants and
 * what the provider has. Specs are normalised by the provider mapping (sorted sets,
 * defaults filled), so a plain deep comparison is enough. A field the provider does not
 * report (null in the observed spec) cannot drift. Only names are returned: values may be
 * secrets.
 */
export function driftedFields(desired: Spec, observed: Spec, prefix = ''): string[] {
  const out: string[] = [];
  for (const key of Object.keys(desired)) {
    const want = desired[key];
    const have = observed[key];
    const path = prefix ? `${prefix}.${key}` : key;
    if (have === null) continue;
    if (isPlainObject(want) && isPlainObject(have)) out.push(...driftedFields(want, have, path));
    else if (!sameValue(want, have)) out.push(path);
  }
  return out;
}

function isPlainObject(v: unknown): v is Spec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) return driftedFields(a, b).length === 0 && driftedFields(b, a).length === 0;
  return a === b;
}
