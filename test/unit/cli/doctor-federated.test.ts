import { describe, expect, it } from 'vitest';
import { readAzureAssignedIdentity, readAzureIdentity, readAzureIdentityBinding } from '../../../src/api/index.ts';
import { parseProviderId } from '../../../src/azure/provider-id.ts';
import { parseDoctorArgs } from '../../../src/cli/doctor/command.ts';
import { diagnose } from '../../../src/cli/doctor/diagnose.ts';
import { issuerVerdict, nmiSubjects } from '../../../src/cli/doctor/federated-steps.ts';
import { projectDoctorPod, projectNmiPod } from '../../../src/cli/doctor/gather.ts';
import type { DoctorSnapshot, FederatedCredentialsRead, FederationFacts, FetchOutcome, StepId } from '../../../src/cli/doctor/model.ts';
import { renderText } from '../../../src/cli/doctor/render.ts';
import { UsageError } from '../../../src/cli/command.ts';
import type { FederatedCredentialView } from '../../../src/cli/federation/credential.ts';

const SUB = '00000000-0000-0000-0000-0000000000aa';
const ID = `/subscriptions/${SUB}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/fed`;
const VMSS_PROVIDER = `azure:///subscriptions/${SUB}/resourceGroups/nodes/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/0`;
const ISSUER = 'https://oidc.example.com/cluster/';
const SUBJECT = 'system:serviceaccount:kube-system:pod-identity-nmi';
const CLIENT = '22222222-2222-4222-8222-222222222222';
const AUDIENCE = 'api://AzureADTokenExchange';

const federatedIdentity = readAzureIdentity({
  apiVersion: 'aadpodidentity.k8s.io/v1',
  kind: 'AzureIdentity',
  metadata: { name: 'fed', namespace: 'apps' },
  spec: { type: 3, resourceID: ID, clientID: CLIENT, tenantID: '33333333-3333-4333-8333-333333333333' },
});

const ok = (url: string, json: unknown): FetchOutcome => ({ kind: 'ok', url, json });
const discovery = ok(`${ISSUER}.well-known/openid-configuration`, { issuer: ISSUER, jwks_uri: `${ISSUER}openid/v1/jwks` });
const jwks = ok(`${ISSUER}openid/v1/jwks`, { keys: [{ kty: 'RSA', kid: 'k1' }] });
const facts = (overrides: Partial<FederationFacts['probe'] & object> = {}): FederationFacts => ({
  issuer: { kind: 'known', issuer: ISSUER, source: "the API server's discovery document" },
  probe: { issuer: ISSUER, discovery, jwks, ...overrides },
});
const credentials = (list: readonly FederatedCredentialView[], clientId = CLIENT): FederatedCredentialsRead => ({
  kind: 'ok',
  identityId: ID,
  clientId,
  credentials: list,
});
const trusting = { name: 'pod-identity-abc', issuer: ISSUER, subject: SUBJECT, audiences: [AUDIENCE] };

function healthy(read: FederatedCredentialsRead = credentials([trusting])): DoctorSnapshot {
  return {
    pod: projectDoctorPod({ metadata: { name: 'web', namespace: 'apps', uid: 'u1', labels: { aadpodidbinding: 'fed' } }, spec: { nodeName: 'node-0' }, status: { phase: 'Running' } })!,
    mode: { forceNamespaced: false, source: 'default', detail: 'test' },
    micNamespace: 'kube-system',
    bindings: [readAzureIdentityBinding({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: 'fed-binding', namespace: 'apps' }, spec: { azureIdentity: 'fed', selector: 'fed' } })],
    identities: new Map([['apps/fed', federatedIdentity]]),
    exceptions: [],
    assigned: [
      readAzureAssignedIdentity({
        apiVersion: 'aadpodidentity.k8s.io/v1',
        kind: 'AzureAssignedIdentity',
        metadata: { name: 'web-apps-fed', namespace: 'default' },
        spec: { pod: 'web', podNamespace: 'apps', nodename: 'node-0', azureIdentityRef: { ...federatedIdentity } },
        status: { status: 'Assigned' },
      }),
    ],
    node: { name: 'node-0', compute: parseProviderId(VMSS_PROVIDER), providerId: VMSS_PROVIDER },
    nmiPods: [{ namespace: 'kube-system', name: 'nmi-abc', phase: 'Running', ready: 'True', readyMessage: undefined, serviceAccount: 'pod-identity-nmi' }],
    events: [],
    azure: { kind: 'read', compute: undefined, principal: { kind: 'unknown', reason: 'not needed' }, roles: new Map(), federated: new Map([['apps/fed', read]]) },
    federation: facts(),
  };
}

const step = (snapshot: DoctorSnapshot, id: StepId) => diagnose(snapshot).steps.find((entry) => entry.id === id);

describe('doctor: federated identities', () => {
  it('healthy: issuer and credential ok; nothing to assign to the VM / VMSS', () => {
    const report = diagnose(healthy());
    expect(report.steps.map((entry) => [entry.id, entry.status])).toEqual([
      ['pod', 'ok'], ['label', 'ok'], ['bindings', 'ok'], ['identity', 'ok'], ['namespaced', 'ok'], ['exception', 'ok'], ['assigned', 'ok'],
      ['node', 'skip'], ['compute-identity', 'skip'], ['role', 'skip'], ['issuer', 'ok'], ['federated-credential', 'ok'], ['nmi', 'ok'], ['events', 'ok'],
    ]);
    expect(report.healthy).toBe(true);
    expect(step(healthy(), 'node')?.detail).toContain('federated');
    expect(step(healthy(), 'identity')?.detail).toContain(`federated identity ${CLIENT}`);
    expect(step(healthy(), 'federated-credential')?.detail).toContain(`credential "pod-identity-abc" trusts issuer ${ISSUER}, subject ${SUBJECT}, audience ${AUDIENCE}`);
    expect(renderText(report)).toContain("Federated identity credential trusts NMI's token");
  });

  it('names the wrong issuer, subject or audience of the closest credential, with the fix', () => {
    const wrongIssuer = step(healthy(credentials([{ ...trusting, issuer: 'https://old.example.com' }])), 'federated-credential');
    expect(wrongIssuer?.status).toBe('fail');
    expect(wrongIssuer?.detail).toContain(`issuer is "https://old.example.com", the cluster's is "${ISSUER}"`);
    expect(wrongIssuer?.fix).toContain(`az identity federated-credential update --name pod-identity-abc --identity-name fed -g identities --issuer ${ISSUER} --subject ${SUBJECT}`);

    const wrongSubject = step(healthy(credentials([{ ...trusting, subject: 'system:serviceaccount:default:nmi' }])), 'federated-credential');
    expect(wrongSubject?.detail).toContain(`subject is "system:serviceaccount:default:nmi", NMI's token says "${SUBJECT}"`);
    expect(wrongSubject?.detail).not.toContain('issuer is');

    const wrongAudience = step(healthy(credentials([{ ...trusting, audiences: ['api://other'] }])), 'federated-credential');
    expect(wrongAudience?.detail).toContain(`audiences are ["api://other"], without "${AUDIENCE}"`);

    // Of several, the closest is described.
    const several = step(healthy(credentials([{ ...trusting, name: 'far', issuer: 'https://x', subject: 'y' }, { ...trusting, name: 'near', audiences: [] }])), 'federated-credential');
    expect(several?.detail).toContain('the closest, "near"');
    expect(several?.detail).toContain('1 other credential(s)');
    expect(diagnose(healthy(credentials([{ ...trusting, audiences: [] }]))).firstFailure).toBe('federated-credential');
  });

  it('no credential at all, an identity ARM does not know, a client ID mismatch', () => {
    const none = step(healthy(credentials([])), 'federated-credential');
    expect([none?.status, none?.detail]).toEqual(['fail', `identity ${ID} has no federated identity credential: Entra ID refuses NMI's token for it`]);
    expect(none?.fix).toContain(`pod-identity identity create --federated --name fed --resource-group identities --issuer ${ISSUER}`);

    const missing = step(healthy({ kind: 'error', message: 'ResourceNotFound', statusCode: 404 }), 'federated-credential');
    expect(missing?.status).toBe('fail');
    expect(missing?.detail).toContain('does not exist');

    const forbidden = step(healthy({ kind: 'error', message: 'AuthorizationFailed', statusCode: 403 }), 'federated-credential');
    expect(forbidden?.status).toBe('unknown');
    expect(forbidden?.fix).toContain('Reader');

    const otherClient = step(healthy(credentials([trusting], '44444444-4444-4444-8444-444444444444')), 'federated-credential');
    expect(otherClient?.status).toBe('fail');
    expect(otherClient?.fix).toContain('Set spec.clientID of AzureIdentity apps/fed to 44444444-4444-4444-8444-444444444444');
  });

  it('takes the subject from the NMI pods, and says so when there is none', () => {
    const snapshot = healthy();
    expect(nmiSubjects(snapshot)).toEqual([SUBJECT]);
    const otherNmi = { ...snapshot, nmiPods: [{ ...snapshot.nmiPods[0]!, namespace: 'pod-identity', serviceAccount: 'pi-nmi' }] };
    expect(step(otherNmi, 'federated-credential')?.detail).toContain(`NMI's token says "system:serviceaccount:pod-identity:pi-nmi"`);
    const noNmi = { ...snapshot, nmiPods: [] };
    expect(step(noNmi, 'federated-credential')?.status).toBe('unknown');
    expect(step(noNmi, 'federated-credential')?.detail).toContain("NMI's subject is not known");
    expect(projectNmiPod({ metadata: { name: 'n', namespace: 'k' }, spec: { serviceAccountName: 'sa' } })?.serviceAccount).toBe('sa');
    expect(projectNmiPod({ metadata: { name: 'n', namespace: 'k' } })?.serviceAccount).toBeUndefined();
  });

  it('skips the credential without ARM, and keeps the issuer check', () => {
    const snapshot: DoctorSnapshot = { ...healthy(), azure: { kind: 'skipped', reason: '--skip-azure given' } };
    expect(step(snapshot, 'federated-credential')?.status).toBe('skip');
    expect(step(snapshot, 'issuer')?.status).toBe('ok');
    const unavailable: DoctorSnapshot = { ...healthy(), azure: { kind: 'unavailable', reason: 'no token' } };
    expect(step(unavailable, 'federated-credential')?.status).toBe('unknown');
    expect(step(unavailable, 'federated-credential')?.fix).toContain('az identity federated-credential list --identity-name fed -g identities');
  });

  it('no federated identity: no issuer or credential step', () => {
    const snapshot = healthy();
    const plain = readAzureIdentity({ ...federatedIdentity, spec: { type: 0, resourceID: ID, clientID: CLIENT } });
    const steps = diagnose({ ...snapshot, identities: new Map([['apps/fed', plain]]), federation: undefined }).steps.map((entry) => entry.id);
    expect(steps).not.toContain('issuer');
    expect(steps).not.toContain('federated-credential');
  });
});

describe('doctor: the issuer', () => {
  it('ok: names the discovery document and the key count', () => {
    expect(issuerVerdict(facts())).toEqual({ status: 'ok', detail: expect.stringContaining('has 1 key(s)') as string });
  });

  it('unknown issuer: asks for --issuer', () => {
    const verdict = issuerVerdict({ issuer: { kind: 'unknown', reason: 'GET /.well-known/openid-configuration: 403' }, probe: undefined });
    expect(verdict.status).toBe('unknown');
    expect(verdict.fix).toContain('--issuer URL');
  });

  it('not https or the in-cluster default: fail with the OIDC issuer fix', () => {
    for (const issuer of ['http://127.0.0.1:6443', 'https://kubernetes.default.svc.cluster.local']) {
      const verdict = issuerVerdict({ issuer: { kind: 'known', issuer, source: 'test' }, probe: undefined });
      expect(verdict.status, issuer).toBe('fail');
      expect(verdict.fix).toContain('--enable-oidc-issuer');
    }
  });

  it('unreachable, refused anonymously, not found', () => {
    const unreachable = issuerVerdict(facts({ discovery: { kind: 'network', url: discovery.url, message: 'fetch failed: connect ECONNREFUSED 127.0.0.1:1' }, jwks: undefined }));
    expect(unreachable.status).toBe('fail');
    expect(unreachable.detail).toContain('ECONNREFUSED');
    expect(unreachable.fix).toContain('reachable from the internet');
    const refused = issuerVerdict(facts({ discovery: { kind: 'http', url: discovery.url, status: 401 }, jwks: undefined }));
    expect(refused.detail).toContain('anonymous requests are refused');
    expect(refused.fix).toContain('--clusterrole=system:service-account-issuer-discovery --group=system:unauthenticated');
    expect(issuerVerdict(facts({ jwks: { kind: 'http', url: jwks.url, status: 404 } })).detail).toContain('(the JWKS) answered 404');
  });

  it('a discovery document of another issuer, without jwks_uri, or an empty JWKS', () => {
    const other = issuerVerdict(facts({ discovery: ok(discovery.url, { issuer: ISSUER.slice(0, -1), jwks_uri: jwks.url }) }));
    expect(other.status).toBe('fail');
    expect(other.detail).toContain(`names issuer "${ISSUER.slice(0, -1)}", but the cluster's tokens carry iss "${ISSUER}"`);
    expect(issuerVerdict(facts({ discovery: ok(discovery.url, { issuer: ISSUER }), jwks: undefined })).detail).toContain('no jwks_uri');
    expect(issuerVerdict(facts({ jwks: ok(jwks.url, { keys: [] }) })).detail).toContain('has no keys');
    expect(issuerVerdict(facts({ discovery: { kind: 'invalid', url: discovery.url, message: 'not JSON: "<html>"' } })).status).toBe('fail');
  });
});

describe('doctor flags', () => {
  it('--issuer must be https; --issuer-ca-file is a path', () => {
    expect(parseDoctorArgs(['web', '--issuer', ISSUER, '--issuer-ca-file', '/tmp/ca.pem'])).toMatchObject({ issuer: ISSUER, issuerCaFile: '/tmp/ca.pem' });
    expect(() => parseDoctorArgs(['web', '--issuer', 'http://x'])).toThrow(UsageError);
    expect(parseDoctorArgs(['web'])).toMatchObject({ issuer: undefined, issuerCaFile: undefined });
  });
});
