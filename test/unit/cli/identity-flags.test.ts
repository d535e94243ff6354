import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/command.ts';
import { clusterPrincipalSource } from '../../../src/cli/identity/cluster-principal.ts';
import { parseCreateArgs } from '../../../src/cli/identity/create-flags.ts';
import { parseRoleReference } from '../../../src/cli/azure/role-assignments.ts';
import type { CloudConfig } from '../../../src/azure/cloud-config.ts';

const SUB = '00000000-0000-0000-0000-0000000000aa';

function problems(argv: readonly string[]): string {
  try {
    parseCreateArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('identity create flags', () => {
  it('parses a full command line with defaults', () => {
    const options = parseCreateArgs(['--name', 'App_Id', '-resource-group=ids', '--role', 'Reader', '--scope', `/subscriptions/${SUB}/`, '--apply']);
    expect(options).toMatchObject({ name: 'App_Id', resourceGroup: 'ids', kubeName: 'app-id', selector: 'app-id', namespace: 'default', apply: true, output: 'yaml', waitTimeoutMs: 300_000 });
    expect(options?.role).toEqual({ text: 'Reader', scope: `/subscriptions/${SUB}` });
  });

  it('returns undefined for --help', () => {
    expect(parseCreateArgs(['--help'])).toBeUndefined();
  });

  it('reports every problem at once', () => {
    const text = problems(['--role', 'Reader', '--namespace', 'Bad_NS', '--selector', '-x', '--output', 'xml', 'extra']);
    for (const expected of ['--name is required', '--resource-group is required', '--role needs --scope', '--namespace', '--selector', '--output', 'unexpected arguments: extra']) expect(text).toContain(expected);
  });

  it('refuses malformed names, scopes and contradictions', () => {
    expect(problems(['--name', 'ab', '--resource-group', 'rg'])).toContain('--name: "ab" is not valid');
    expect(problems(['--name', 'app', '--resource-group', 'rg.'])).toContain('--resource-group');
    expect(problems(['--name', 'app', '--resource-group', 'rg', '--scope', '/subscriptions/x'])).toContain('expected an ARM scope');
    expect(problems(['--name', 'app', '--resource-group', 'rg', '--skip-operator-grant', '--cluster-principal-id', '11111111-1111-4111-8111-111111111111'])).toContain('contradict');
    expect(problems(['--name', 'app', '--resource-group', 'rg', '--cluster-principal-id', 'nope'])).toContain('GUID');
  });
});

describe('--role references', () => {
  it('takes names, GUIDs and role definition IDs', () => {
    expect(parseRoleReference('Storage Blob Data Reader')).toEqual({ kind: 'name', name: 'Storage Blob Data Reader' });
    expect(parseRoleReference('ACDD72A7-3385-48EF-BD42-F606FBA81AE7')).toEqual({ kind: 'guid', guid: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' });
    expect(parseRoleReference(`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`)).toEqual({ kind: 'guid', guid: 'acdd72a7-3385-48ef-bd42-f606fba81ae7' });
    expect(() => parseRoleReference('/x/roleDefinitions/not-a-guid')).toThrow(UsageError);
    expect(() => parseRoleReference("a' or 1 eq 1")).toThrow(UsageError);
  });
});

describe('the cluster principal', () => {
  const base = { source: '/etc/kubernetes/azure.json', useManagedIdentityExtension: false, aadClientId: 'app', userAssignedIdentityID: undefined } as unknown as CloudConfig;

  it('comes from the flag, a user-assigned kubelet identity, or the service principal', () => {
    expect(clusterPrincipalSource('p', base)).toEqual({ kind: 'flag', principalId: 'p' });
    expect(clusterPrincipalSource(undefined, base)).toEqual({ kind: 'service-principal', clientId: 'app' });
    expect(clusterPrincipalSource(undefined, { ...base, useManagedIdentityExtension: true, userAssignedIdentityID: 'kubelet' })).toEqual({ kind: 'user-assigned', clientId: 'kubelet' });
  });

  it('is a usage error when it cannot be known', () => {
    expect(() => clusterPrincipalSource(undefined, undefined)).toThrow(/--cloudconfig.*--cluster-principal-id.*--skip-operator-grant/);
    expect(() => clusterPrincipalSource(undefined, { ...base, useManagedIdentityExtension: true })).toThrow(/system-assigned/);
  });
});
