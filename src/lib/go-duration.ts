/**
 * Go's `time.ParseDuration` syntax (`15s`, `3m`, `1h30m`, `3600s`, `1.5h`, `100ms`, `-2m`), so
 * duration flags written for the Go binaries mean the same here.
 * @module
 */

/** Milliseconds per unit, with Go's spellings (both micro signs included). */
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** Longest duration Go can represent (int64 nanoseconds, about 292 years). */
const MAX_MS = 9_223_372_036_854.775;

const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/**
 * Parses a Go duration into milliseconds (possibly fractional: `1us` is 0.001). Returns `undefined`
 * for anything `time.ParseDuration` rejects: an empty string, a number without a unit (except a bare
 * `0`), an unknown unit, or a value beyond Go's range.
 */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    if (match === null) return undefined;
    const [whole, integer = '', fraction, unit = ''] = match;
    if (integer === '' && (fraction === undefined || fraction === '')) return undefined;
    const perUnit = UNIT_MS[unit];
    if (perUnit === undefined) return undefined;
    total += Number(`${integer === '' ? '0' : integer}.${fraction ?? '0'}`) * perUnit;
    rest = rest.slice(whole.length);
  }
  if (total > MAX_MS) return undefined;
  // Go counts whole nanoseconds; rounding there also hides binary float noise (1.1s is 1100 ms).
  const ms = Math.round(total * 1e6) / 1e6;
  return ms === 0 ? 0 : sign * ms;
}
