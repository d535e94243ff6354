import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { AzureCommandError } from '../../../src/cli/azure/arm-error.ts';
import { UsageError } from '../../../src/cli/command.ts';
import {
  checkCredentialName,
  credentialMismatches,
  defaultCredentialName,
  expectedCredential,
  MAX_FEDERATED_CREDENTIALS,
  planCredential,
  serviceAccountSubject,
  type FederatedCredentialView,
} from '../../../src/cli/federation/credential.ts';
import { checkIssuerUrl, chooseIssuer, discoveryUrl, unusableIssuer } from '../../../src/cli/federation/issuer.ts';
import { parseCreateArgs } from '../../../src/cli/identity/create-flags.ts';
import { identityManifests, renderManifests } from '../../../src/cli/identity/manifests.ts';

const ISSUER = 'https://oidc.example.com/tenant/cluster/';
const SUBJECT = 'system:serviceaccount:kube-system:pod-identity-nmi';
const expected = expectedCredential(ISSUER, SUBJECT);
const credential = (name: string, overrides: Partial<FederatedCredentialView> = {}): FederatedCredentialView => ({
  name,
  issuer: ISSUER,
  subject: SUBJECT,
  audiences: ['api://AzureADTokenExchange'],
  ...overrides,
});

function problems(argv: readonly string[]): string {
  try {
    parseCreateArgs(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('federated identity credential plan', () => {
  it('builds the subject and the expected trust', () => {
    expect(serviceAccountSubject('kube-system', 'pod-identity-nmi')).toBe(SUBJECT);
    expect(expected).toEqual({ issuer: ISSUER, subject: SUBJECT, audience: 'api://AzureADTokenExchange' });
  });

  it('names which of issuer, subject and audience differ (exact strings; audience by membership)', () => {
    expect(credentialMismatches(credential('a'), expected)).toEqual([]);
    expect(credentialMismatches(credential('a', { issuer: ISSUER.slice(0, -1) }), expected)).toEqual(['issuer']);
    expect(credentialMismatches(credential('a', { subject: 'system:serviceaccount:default:nmi', audiences: ['api://other'] }), expected)).toEqual(['subject', 'audience']);
    expect(credentialMismatches(credential('a', { audiences: ['api://other', 'api://AzureADTokenExchange'] }), expected)).toEqual([]);
    expect(credentialMismatches(credential('a', { subject: 'x' }), { issuer: ISSUER, audience: 'api://AzureADTokenExchange' })).toEqual([]);
  });

  it('derives a stable default name per issuer and subject', () => {
    const name = defaultCredentialName(ISSUER, SUBJECT);
    expect(name).toMatch(/^pod-identity-[0-9a-f]{12}$/);
    expect(defaultCredentialName(ISSUER, SUBJECT)).toBe(name);
    expect(defaultCredentialName('https://other.example.com', SUBJECT)).not.toBe(name);
    expect(checkCredentialName(name)).toBeUndefined();
    expect(checkCredentialName('-bad')).toContain('credential name');
  });

  it('creates when nothing matches', () => {
    expect(planCredential([credential('other', { subject: 'system:serviceaccount:x:y' })], expected, 'mine', 'app-id')).toEqual({ action: 'create', name: 'mine' });
  });

  it('reuses one with the same issuer and subject under any name', () => {
    expect(planCredential([credential('someone-elses-name')], expected, 'mine', 'app-id')).toEqual({ action: 'reuse', credential: credential('someone-elses-name') });
  });

  it('updates the same issuer and subject when the audience is missing, and a name clash with other content', () => {
    const noAudience = credential('old', { audiences: ['api://other'] });
    expect(planCredential([noAudience], expected, 'mine', 'app-id')).toEqual({ action: 'update', name: 'old', previous: noAudience, wrong: ['audience'] });
    const clash = credential('Mine', { issuer: 'https://old.example.com' });
    expect(planCredential([clash], expected, 'mine', 'app-id')).toEqual({ action: 'update', name: 'Mine', previous: clash, wrong: ['issuer'] });
  });

  it('refuses a new credential beyond the limit of 20, naming the fix', () => {
    const full = Array.from({ length: MAX_FEDERATED_CREDENTIALS }, (_, index) => credential(`c${index}`, { subject: `system:serviceaccount:ns:sa${index}` }));
    expect(() => planCredential(full, expected, 'mine', 'app-id')).toThrow(AzureCommandError);
    expect(() => planCredential(full, expected, 'mine', 'app-id')).toThrow(/already has 20 federated identity credentials.*\n.*az identity federated-credential/);
    // Reusing or replacing one is still possible when full.
    expect(planCredential(full, expected, 'c3', 'app-id').action).toBe('update');
    expect(planCredential([...full.slice(1), credential('ours')], expected, 'mine', 'app-id').action).toBe('reuse');
  });
});

describe('issuer', () => {
  it('accepts https URLs only, without query, fragment or user', () => {
    expect(checkIssuerUrl(ISSUER)).toBeUndefined();
    expect(checkIssuerUrl('http://127.0.0.1:6443')).toContain('only https issuers');
    expect(checkIssuerUrl('https://x.example.com/?a=b')).toContain('without user, query or fragment');
    expect(checkIssuerUrl('not a url')).toContain('an https URL');
  });

  it('calls the in-cluster default issuer unusable', () => {
    expect(unusableIssuer('https://kubernetes.default.svc.cluster.local')).toContain("API server's in-cluster default");
    expect(unusableIssuer('https://kubernetes.default.svc')).toBeDefined();
    expect(unusableIssuer('http://oidc.example.com')).toContain('only https issuers');
    expect(unusableIssuer(ISSUER)).toBeUndefined();
  });

  it('finds the discovery document without a double slash', () => {
    expect(discoveryUrl(ISSUER)).toBe('https://oidc.example.com/tenant/cluster/.well-known/openid-configuration');
    expect(discoveryUrl('https://127.0.0.1:6443')).toBe('https://127.0.0.1:6443/.well-known/openid-configuration');
  });

  it('chooses --issuer, else the API server\'s, and names the fix when neither serves', () => {
    expect(chooseIssuer(ISSUER, undefined)).toEqual({ issuer: ISSUER, source: '--issuer' });
    expect(chooseIssuer(undefined, { kind: 'ok', issuer: ISSUER }).issuer).toBe(ISSUER);
    expect(() => chooseIssuer(undefined, { kind: 'error', message: 'GET /.well-known/openid-configuration: 404' })).toThrow(/cannot learn the cluster's service-account issuer.*give --issuer URL, or enable the cluster's OIDC issuer/);
    expect(() => chooseIssuer(undefined, { kind: 'ok', issuer: 'https://kubernetes.default.svc.cluster.local' })).toThrow(/--enable-oidc-issuer.*or give --issuer URL/);
    expect(() => chooseIssuer(undefined, { kind: 'ok', issuer: 'http://127.0.0.1:6443' })).toThrow(UsageError);
  });
});

describe('identity create --federated flags', () => {
  const base = ['--name', 'app-id', '--resource-group', 'ids'];

  it('defaults the subject to the chart\'s NMI in kube-system', () => {
    expect(parseCreateArgs([...base, '--federated'])?.federated).toEqual({ issuer: undefined, subject: SUBJECT, credentialName: undefined });
    expect(parseCreateArgs([...base])?.federated).toBeUndefined();
    const custom = parseCreateArgs([...base, '--federated', '--issuer', ISSUER, '--nmi-namespace', 'pod-identity', '--nmi-service-account', 'pi-nmi', '--federated-credential-name', 'cluster-a']);
    expect(custom?.federated).toEqual({ issuer: ISSUER, subject: 'system:serviceaccount:pod-identity:pi-nmi', credentialName: 'cluster-a' });
  });

  it('refuses an http issuer, federated flags without --federated, and --cluster-principal-id with it', () => {
    expect(problems([...base, '--federated', '--issuer', 'http://127.0.0.1:6443'])).toContain('--issuer: "http://127.0.0.1:6443" is not valid: expected an https URL: Entra ID accepts only https issuers');
    const text = problems([...base, '--issuer', ISSUER, '--nmi-namespace', 'x']);
    expect(text).toContain('--issuer needs --federated');
    expect(text).toContain('--nmi-namespace needs --federated');
    expect(problems([...base, '--federated', '--cluster-principal-id', '11111111-1111-4111-8111-111111111111'])).toContain('drop --cluster-principal-id');
    expect(problems([...base, '--federated', '--nmi-namespace', 'Bad.NS'])).toContain('a namespace name');
  });
});

describe('federated manifests', () => {
  it('an AzureIdentity of type 3 with clientID, tenantID and resourceID', () => {
    const objects = identityManifests({ name: 'app-id', namespace: 'app', selector: 'app', resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id', clientId: 'c', federatedTenantId: 't' });
    expect(objects[0].spec).toEqual({ type: 3, resourceID: '/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id', clientID: 'c', tenantID: 't' });
    expect(YAML.parse(renderManifests([objects[0]], 'yaml'))).toMatchObject({ kind: 'AzureIdentity', spec: { type: 3, tenantID: 't' } });
    expect(identityManifests({ name: 'a', namespace: 'n', selector: 's', resourceId: 'r', clientId: 'c' })[0].spec).toEqual({ type: 0, resourceID: 'r', clientID: 'c' });
  });
});
