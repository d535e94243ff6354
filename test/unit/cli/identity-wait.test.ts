import { describe, expect, it } from 'vitest';
import { AzureCommandError, explainArmError } from '../../../src/cli/azure/arm-error.ts';
import { PrincipalWaitTimeoutError, retryWhilePrincipalMissing } from '../../../src/cli/azure/principal-wait.ts';
import { createProgress } from '../../../src/cli/shared/progress.ts';

function restError(statusCode: number, code: string, message = 'ARM says no'): Error {
  return Object.assign(new Error(message), { name: 'RestError', statusCode, code });
}

/** A fake clock whose sleep advances it. */
function fakeTime(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let time = 0;
  const slept: number[] = [];
  return { now: () => time, sleep: async (ms) => { slept.push(ms); time += ms; }, slept };
}

describe('waiting for a new principal', () => {
  it('retries PrincipalNotFound with growing pauses and reports each wait', async () => {
    const time = fakeTime();
    const waits: [number, number, number][] = [];
    let calls = 0;
    const result = await retryWhilePrincipalMissing(
      async () => {
        calls++;
        if (calls < 4) throw restError(400, 'PrincipalNotFound');
        return 'ok';
      },
      { timeoutMs: 60_000, now: time.now, sleep: time.sleep, onWait: (attempt, waited, next) => waits.push([attempt, waited, next]) },
    );
    expect(result).toBe('ok');
    expect(time.slept).toEqual([2_000, 4_000, 8_000]);
    expect(waits).toEqual([[1, 0, 2_000], [2, 2_000, 4_000], [3, 6_000, 8_000]]);
  });

  it('gives up once the next pause would pass the timeout', async () => {
    const time = fakeTime();
    const error = await retryWhilePrincipalMissing(() => Promise.reject(restError(400, 'PrincipalNotFound')), { timeoutMs: 15_000, now: time.now, sleep: time.sleep }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PrincipalWaitTimeoutError);
    expect((error as PrincipalWaitTimeoutError).attempts).toBe(4);
    expect(time.slept).toEqual([2_000, 4_000, 8_000]);
  });

  it('throws other errors at once', async () => {
    const time = fakeTime();
    await expect(retryWhilePrincipalMissing(() => Promise.reject(restError(403, 'AuthorizationFailed')), { timeoutMs: 60_000, now: time.now, sleep: time.sleep })).rejects.toThrow('ARM says no');
    expect(time.slept).toEqual([]);
  });
});

describe('ARM errors', () => {
  const call = { action: 'create user-assigned identity /x', neededRoles: ['Managed Identity Contributor', 'Contributor'], scope: '/subscriptions/s/resourceGroups/ids' };

  it('names the missing role and where for AuthorizationFailed', () => {
    const error = explainArmError(restError(403, 'AuthorizationFailed', "The client 'a' does not have authorization"), call) as AzureCommandError;
    expect(error).toBeInstanceOf(AzureCommandError);
    expect(error.kind).toBe('authorization');
    expect(error.message).toBe(
      `cannot create user-assigned identity /x: not authorized (403 AuthorizationFailed: The client 'a' does not have authorization)\n  the signed-in principal needs the role "Managed Identity Contributor" or "Contributor" on /subscriptions/s/resourceGroups/ids`,
    );
  });

  it('classifies authentication, not found and other failures; leaves non-SDK errors alone', () => {
    expect((explainArmError(Object.assign(new Error('no creds'), { name: 'CredentialUnavailableError' }), call) as AzureCommandError).kind).toBe('authentication');
    expect((explainArmError(restError(404, 'ResourceGroupNotFound'), call) as AzureCommandError).kind).toBe('not-found');
    expect((explainArmError(restError(500, 'InternalServerError'), call) as AzureCommandError).message).toContain('500 InternalServerError');
    const bug = new TypeError('x');
    expect(explainArmError(bug, call)).toBe(bug);
  });
});

describe('progress', () => {
  it('writes plain lines when not on a terminal', () => {
    let text = '';
    let time = 0;
    const progress = createProgress({ write: (chunk: string) => (text += chunk) }, { tty: false, now: () => time });
    progress.start('creating');
    progress.update('attempt 1');
    progress.update('attempt 1');
    time = 1_500;
    progress.done('created');
    progress.start('assigning');
    progress.fail();
    expect(text).toBe('… creating\n… creating: attempt 1\n✓ created (1.5s)\n… assigning\n✗ assigning (0.0s)\n');
  });

  it('rewrites one line on a terminal and ends it with a newline', () => {
    let text = '';
    const progress = createProgress({ write: (chunk: string) => (text += chunk), isTTY: true }, { now: () => 0, frameMs: 60_000 });
    progress.start('working');
    progress.update('half');
    progress.done();
    progress.close();
    expect(text).toContain('\r\x1b[2K');
    expect(text).toContain('working (half)');
    expect(text.endsWith('✓ working (0.0s)\n')).toBe(true);
  });
});
