/**
 * Client IDs in logs and in the error texts pods see (identity selection), redacted as upstream did.
 * @module
 */

const REDACTED = '##### REDACTED #####';

/**
 * A client ID for logs and error texts: first 4 + `##### REDACTED #####` + last 4 characters, as
 * upstream's `utils.RedactClientID` (regex `^(\S{4})(\S|\s)*(\S{4})$`). Deviation: where upstream's
 * regex does not match (shorter than 8 characters, or whitespace at either end) it returned the value
 * unchanged; we return only the marker, so nothing unredacted leaks. The empty string stays empty
 * (messages say "clientID in request: , " when none was requested).
 */
export function redactClientId(id: string): string {
  if (id === '') return '';
  const match = /^(\S{4})[\s\S]*(\S{4})$/u.exec(id);
  if (match === null) return REDACTED;
  return `${match[1] ?? ''}${REDACTED}${match[2] ?? ''}`;
}
