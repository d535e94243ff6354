/**
 * Builders for the CEL expressions of the CRD validation rules. They read a field the way the
 * readers do: the first declared spelling present, in precedence order, decides.
 * @module
 */
import { spellingsByPrecedence, type FieldSpellings } from './legacy-spellings.ts';

/** A CEL string literal for `text`: a raw string when possible, so regexes stay readable. */
export function celString(text: string): string {
  return text.includes("'") || text.includes('\n') ? JSON.stringify(text) : `r'${text}'`;
}

/** CEL: true when any declared spelling of `field` is present on `target`. */
export function celHasAny(field: FieldSpellings, target = 'self'): string {
  return spellingsByPrecedence(field)
    .map((spelling) => `has(${target}.${spelling})`)
    .join(' || ');
}

/**
 * CEL: `test` applied to the value of the highest-precedence spelling present on `target`, or
 * `ifAbsent` when no declared spelling is present. `test` receives the CEL access expression.
 * Parenthesised, because `?:` binds more loosely than `||` and `&&`.
 */
export function celOnValue(field: FieldSpellings, test: (value: string) => string, ifAbsent: string, target = 'self'): string {
  const chain = spellingsByPrecedence(field).reduceRight(
    (otherwise, spelling) => `has(${target}.${spelling}) ? ${test(`${target}.${spelling}`)} : ${otherwise}`,
    ifAbsent,
  );
  return `(${chain})`;
}

/** CEL: the value of the highest-precedence spelling present, or `ifAbsent` (same CEL type required). */
export function celValueOf(field: FieldSpellings, ifAbsent: string, target = 'self'): string {
  return celOnValue(field, (value) => value, ifAbsent, target);
}
