import { describe, expect, it } from 'vitest';
import { REDACTED, redactQuery, redactText, splitUrl } from '../../../src/sim/http/redact.ts';
import { DEFAULT_REQUEST_LOG_CAPACITY, RequestLog, type NewRequestLogEntry } from '../../../src/sim/http/request-log.ts';

function entry(fields: Partial<NewRequestLogEntry> = {}): NewRequestLogEntry {
  return { time: '2026-01-01T00:00:00.000Z', service: 'arm', method: 'GET', path: '/subscriptions', query: {}, status: 200, durationMs: 1, clientAddress: '127.0.0.1', ...fields };
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJl';

describe('RequestLog ring', () => {
  it('keeps only the newest `capacity` entries, oldest first, with increasing seq', () => {
    const log = new RequestLog(3);
    for (let i = 1; i <= 5; i++) log.record(entry({ path: `/p${i}` }));
    expect(log.size).toBe(3);
    expect(log.lastSeq).toBe(5);
    expect(log.entries().map((e) => [e.seq, e.path])).toEqual([
      [3, '/p3'],
      [4, '/p4'],
      [5, '/p5'],
    ]);
  });

  it('is bounded at 10,000 entries by default', () => {
    const log = new RequestLog();
    expect(log.capacity).toBe(DEFAULT_REQUEST_LOG_CAPACITY);
    for (let i = 0; i < DEFAULT_REQUEST_LOG_CAPACITY + 5; i++) log.record(entry());
    expect(log.size).toBe(10_000);
    expect(log.entries()[0]?.seq).toBe(6);
    expect(log.entries().at(-1)?.seq).toBe(10_005);
  });

  it('clear() forgets entries but keeps counting', () => {
    const log = new RequestLog(10);
    log.record(entry());
    log.record(entry());
    log.clear();
    expect(log.entries()).toEqual([]);
    expect(log.record(entry()).seq).toBe(3);
    expect(log.size).toBe(1);
  });

  it('stores frozen entries', () => {
    const log = new RequestLog(2);
    const recorded = log.record(entry());
    expect(Object.isFrozen(recorded)).toBe(true);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RequestLog(0)).toThrow(/capacity/);
  });
});

describe('RequestLog queries', () => {
  const log = new RequestLog(100);
  log.record(entry({ service: 'arm', method: 'PATCH', path: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool', status: 200 }));
  log.record(entry({ service: 'imds:node-a', node: 'node-a', path: '/metadata/identity/oauth2/token/', status: 429, fault: { ruleId: 'r1', kind: 'status', status: 429 } }));
  log.record(entry({ service: 'imds:node-b', node: 'node-b', path: '/metadata/identity/oauth2/token/', status: 200 }));
  log.record(entry({ service: 'entra', method: 'POST', path: '/tenant/oauth2/v2.0/token', status: 401 }));

  it('filters by service (`imds` = every node), node, method, path and status', () => {
    expect(log.query({ service: 'imds' }).map((e) => e.seq)).toEqual([2, 3]);
    expect(log.query({ service: 'imds:node-b' }).map((e) => e.seq)).toEqual([3]);
    expect(log.query({ node: 'NODE-A' }).map((e) => e.seq)).toEqual([2]);
    expect(log.query({ method: 'patch' }).map((e) => e.seq)).toEqual([1]);
    expect(log.query({ pathContains: 'VIRTUALMACHINESCALESETS' }).map((e) => e.seq)).toEqual([1]);
    expect(log.query({ pathRegex: '/oauth2/(v2\\.0/)?token' }).map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(log.query({ pathRegex: /^\/tenant\// }).map((e) => e.seq)).toEqual([4]);
    expect(log.query({ status: 401 }).map((e) => e.seq)).toEqual([4]);
  });

  it('filters by sequence, by fault, and limits to the most recent', () => {
    expect(log.query({ sinceSeq: 2 }).map((e) => e.seq)).toEqual([3, 4]);
    expect(log.query({ faulted: true }).map((e) => e.seq)).toEqual([2]);
    expect(log.query({ faulted: false }).map((e) => e.seq)).toEqual([1, 3, 4]);
    expect(log.query({ limit: 2 }).map((e) => e.seq)).toEqual([3, 4]);
    expect(log.query({ service: 'imds', sinceSeq: 2 }).map((e) => e.seq)).toEqual([3]);
  });
});

describe('RequestLog.waitFor', () => {
  it('resolves with an entry already held', async () => {
    const log = new RequestLog(10);
    log.record(entry({ path: '/held' }));
    await expect(log.waitFor((e) => e.path === '/held', 1_000)).resolves.toMatchObject({ seq: 1 });
  });

  it('resolves when a matching entry arrives later, ignoring others', async () => {
    const log = new RequestLog(10);
    const waiting = log.waitFor((e) => e.status === 503, 2_000);
    log.record(entry({ status: 200 }));
    log.record(entry({ status: 503 }));
    await expect(waiting).resolves.toMatchObject({ seq: 2, status: 503 });
  });

  it('rejects after the timeout, and on abort', async () => {
    const log = new RequestLog(10);
    await expect(log.waitFor(() => true, 20)).rejects.toThrow('no matching request within 20 ms');
    const controller = new AbortController();
    const waiting = log.waitFor(() => true, 5_000, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toThrow('wait aborted');
    // an aborted waiter is gone: recording afterwards wakes nobody and throws nothing
    log.record(entry());
  });
});

describe('redaction', () => {
  it('drops the values of credential-like query parameters and keeps identity selectors', () => {
    const query = redactQuery(
      `api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com&client_id=0f0c6e1c-1111-4a4a-9b9b-000000000001&client_secret=s3cr3t&client_assertion=${JWT}&access_token=abc&token_sha256_to_refresh=ff&sig=xyz`,
    );
    expect(query).toEqual({
      'api-version': '2018-02-01',
      resource: 'https://management.azure.com',
      client_id: '0f0c6e1c-1111-4a4a-9b9b-000000000001',
      client_secret: REDACTED,
      client_assertion: REDACTED,
      access_token: REDACTED,
      token_sha256_to_refresh: REDACTED,
      sig: REDACTED,
    });
  });

  it('removes JWTs and bearer tokens wherever they appear', () => {
    expect(redactText(`/a/${JWT}/b`)).toBe(`/a/${REDACTED}/b`);
    expect(redactText('Bearer abc.def')).toBe(REDACTED);
    expect(redactQuery(`note=${encodeURIComponent(`see ${JWT}`)}`)).toEqual({ note: `see ${REDACTED}` });
  });

  it('splits a URL into a redacted path and query and joins repeated names', () => {
    expect(splitUrl('/metadata/identity/oauth2/token?client_id=a&client_id=b')).toEqual({ path: '/metadata/identity/oauth2/token', query: { client_id: 'a,b' } });
    expect(splitUrl('/healthz')).toEqual({ path: '/healthz', query: {} });
    const logged = JSON.stringify(splitUrl(`/x?client_secret=hunter2&assertion=${JWT}`));
    expect(logged).not.toContain('hunter2');
    expect(logged).not.toContain(JWT);
  });
});
