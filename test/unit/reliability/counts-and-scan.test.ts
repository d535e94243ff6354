import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countLine, CountsBuilder, recordCounts } from '../../reliability/counts.ts';
import { scanForSecrets, secretBreaches } from '../../reliability/secret-scan.ts';

describe('reliability counts', () => {
  it('builds a count line with breaches, recoveries and details', () => {
    const builder = new CountsBuilder('demo', 'ci');
    builder.attempts = 10;
    builder.successes = 7;
    builder.faults = 2;
    builder.recovered(120.4);
    builder.recovered(80);
    builder.count('status_400', 3);
    builder.count('status_400');
    builder.breach('pod b got identity a');
    const counts = builder.finish();
    expect(counts.breaches).toBe(1);
    expect(counts.recoverMs).toEqual([120, 80]);
    expect(countLine(counts)).toMatch(/^reliability demo \(ci\): attempts=10 successes=7 breaches=1 faults=2 recoveries=2 recover=\[median 80 ms, max 120 ms\] duration=\d+\.\ds \| status_400=4$/);
  });

  it('merges suites into one report file, ci and full apart', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'rel-')), 'reliability.json');
    const lines: string[] = [];
    recordCounts(new CountsBuilder('a', 'ci').finish(), (line) => lines.push(line), file);
    recordCounts(new CountsBuilder('a', 'full').finish(), (line) => lines.push(line), file);
    recordCounts(new CountsBuilder('b', 'ci').finish(), (line) => lines.push(line), file);
    const report = JSON.parse(readFileSync(file, 'utf8')) as { suites: Record<string, { line: string }> };
    expect(Object.keys(report.suites).sort()).toEqual(['a', 'a:full', 'b']);
    expect(report.suites['b']?.line).toBe(lines[2]);
  });
});

describe('secret scan', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4eCJ9.c2lnbmF0dXJlc2lnbmF0dXJl';

  it('finds JWTs, PEM headers, DER blobs and known secrets, masked', () => {
    const text = [
      '{"msg":"ok","token":"[REDACTED]"}',
      `{"msg":"leak","x":"${jwt}"}`,
      '-----BEGIN PRIVATE KEY-----',
      `pfx=MII${'A'.repeat(300)}`,
      'client secret is s3cr3t-value-123',
    ].join('\n');
    const findings = scanForSecrets('nmi', text, ['s3cr3t-value-123']);
    expect(findings.map((finding) => [finding.kind, finding.line])).toEqual([
      ['jwt', 2],
      ['pem', 3],
      ['base64-blob', 4],
      ['known-secret', 5],
    ]);
    expect(findings.map((finding) => finding.excerpt).join(' ')).not.toContain('s3cr3t-value-123');
    expect(findings[0]?.excerpt).not.toContain(jwt);
  });

  it('finds bearer headers, form secrets and Entra-shaped client secrets, but not their redacted forms', () => {
    const entra = 'abc8Q~' + 'x'.repeat(20) + 'Y1_z.-~abcdefghijk'.slice(0, 14);
    const text = [
      'authorization: Bearer abcdefghijklmnop0123456789',
      'POST body grant_type=client_credentials&client_secret=hunter2-hunter2&scope=x',
      `{"msg":"configured","value":"${entra}"}`,
      'authorization: Bearer [REDACTED] client_secret=[REDACTED] password=[REDACTED]',
      '{"msg":"Basic auth disabled","resource":"https://management.azure.com/"}',
    ].join('\n');
    expect(scanForSecrets('cli', text).map((finding) => [finding.kind, finding.line])).toEqual([
      ['bearer', 1],
      ['form-secret', 2],
      ['entra-secret', 3],
    ]);
  });

  it('passes clean output: redacted fields, resource IDs, client IDs', () => {
    const clean = '{"level":30,"identity":"/subscriptions/0000/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1","clientId":"11111111-2222-3333-4444-555555555555","token":"[REDACTED]"}';
    expect(secretBreaches({ mic: clean, nmi: clean }, ['short'])).toEqual([]);
  });
});
