/**
 * The small OData `$filter` dialect of the Authorization RP: `atScope()`, `assignedTo('{id}')`,
 * `{field} eq '{value}'` (OData escapes `'` as `''`), joined with `and`.
 * @module
 */

export type FilterClause =
  | { readonly kind: 'atScope' }
  | { readonly kind: 'assignedTo'; readonly value: string }
  | { readonly kind: 'eq'; readonly field: string; readonly value: string };

const CLAUSE = /^\s*(?:(atScope\(\))|assignedTo\('((?:[^']|'')*)'\)|(\w+)\s+eq\s+'((?:[^']|'')*)')\s*(?:and\s+(?=\S)|$)/i;

const unquote = (value: string): string => value.replaceAll("''", "'");

/** The clauses of `filter`, or undefined when it is not in the dialect. An empty filter has no clauses. */
export function parseFilter(filter: string): FilterClause[] | undefined {
  const clauses: FilterClause[] = [];
  let rest = filter.trim();
  while (rest !== '') {
    const match = CLAUSE.exec(rest);
    if (match === null) return undefined;
    const [whole, atScope, assignedTo, field, value] = match;
    if (atScope !== undefined) clauses.push({ kind: 'atScope' });
    else if (assignedTo !== undefined) clauses.push({ kind: 'assignedTo', value: unquote(assignedTo) });
    else if (field !== undefined && value !== undefined) clauses.push({ kind: 'eq', field, value: unquote(value) });
    rest = rest.slice(whole.length);
  }
  return clauses;
}
