/**
 * How a client scenario script reports: exactly one JSON line on stdout, `{"ok":true,"token",…}` or
 * `{"ok":false,"errorName","message"}`, and exit code 0 either way (the test judges the outcome).
 */
import type { AccessToken, TokenCredential } from '@azure/identity';

export type ClientResult =
  | { readonly ok: true; readonly token: string; readonly expiresOnTimestamp: number }
  | { readonly ok: false; readonly errorName: string; readonly message: string };

/** The JSON argument every scenario script takes (argv[2]); the script casts it to its scenario type. */
export function scenarioArgument(): unknown {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('usage: node <script>.ts <json>');
  return JSON.parse(raw);
}

/** Gets one token for `scope` and prints the result line. */
export async function reportToken(credential: () => TokenCredential, scope: string): Promise<void> {
  let result: ClientResult;
  try {
    const token: AccessToken | null = await credential().getToken(scope);
    result = token === null ? { ok: false, errorName: 'NoToken', message: 'getToken returned null' } : { ok: true, token: token.token, expiresOnTimestamp: token.expiresOnTimestamp };
  } catch (error) {
    result = error instanceof Error ? { ok: false, errorName: error.name, message: error.message } : { ok: false, errorName: 'unknown', message: String(error) };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
