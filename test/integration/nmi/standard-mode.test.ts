/**
 * NMI in standard mode against a real API server, the Azure simulator and a running MIC: pods are
 * Pod objects with addresses in 127.0.0.0/8 and requests come from those addresses. Covers tokens for
 * the three identity types, waiting until Assigned, selection by client ID / resource ID / object ID
 * and mismatches, namespaced denial, exceptions, unknown addresses and /host/token.
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rawRequest } from '../../../src/kube/raw-client.ts';
import { createSelfSignedCertificate, toPkcs12 } from '../../../src/lib/pki.ts';
import { useMicWorld } from '../../support/mic-suite.ts';
import { nmiRequest, startNmi, tokenRequest, type NmiProcess } from '../../support/nmi-world.ts';

const ARM = 'https://management.azure.com/';
const suite = useMicWorld({ scaleSetNodes: 2, vmNodes: 0, lroDurationMs: { vm: 200, vmss: 300 } });
let nmi: NmiProcess;
let node: string;
let nextAddress = 1;
const address = (): string => `127.10.${String(Math.floor(nextAddress / 250))}.${String((nextAddress++ % 250) + 1)}`;

beforeAll(async () => {
  node = suite.world().scaleSetNodes[0] ?? '';
  nmi = await startNmi(suite.world(), node, ['--retry-attempts-for-created=4', '--retry-attempts-for-assigned=2', '--find-identity-retry-interval=2']);
}, 60_000);

afterAll(async () => {
  if (process.env['NMI_TEST_LOGS'] === '1') console.log(nmi.output());
  await nmi.stop();
});

/** An identity in Azure plus its AzureIdentity and binding in `namespace`; returns what a test needs. */
async function boundIdentity(namespace: string, name: string, annotations?: Record<string, string>): Promise<{ clientId: string; principalId: string; id: string; selector: string }> {
  const world = suite.world();
  await world.namespace(namespace);
  const azure = await world.azureIdentity(`${name}-${randomUUID().slice(0, 6)}`);
  await world.createIdentity(namespace, name, { type: 0, resourceID: azure.id, clientID: azure.clientId }, annotations);
  const selector = `${name}-selector`;
  await world.createBinding(namespace, `${name}-binding`, name, selector);
  return { ...azure, selector };
}

async function pod(namespace: string, name: string, selector: string | undefined, ip: string): Promise<void> {
  await suite.world().createPod(namespace, name, node, selector, { ip });
}

describe('type 0 (user-assigned managed identity)', () => {
  it('waits until MIC has assigned the identity, then serves a token whose claims name it', async () => {
    const identity = await boundIdentity('nmi-t0', 'app-identity');
    const ip = address();
    await pod('nmi-t0', 'app', identity.selector, ip);
    const started = Date.now();
    const response = await tokenRequest(nmi, ip, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ resource: ARM, token_type: 'Bearer', client_id: identity.clientId });
    for (const field of ['expires_in', 'expires_on', 'ext_expires_in', 'not_before']) expect(body[field]).toMatch(/^\d+$/);
    const claims = decodeJwt(String(body['access_token']));
    expect(claims['appid']).toBe(identity.clientId);
    expect(claims['oid']).toBe(identity.principalId);
    expect(String(claims['xms_mirid']).toLowerCase()).toBe(identity.id.toLowerCase());
    expect(claims['aud']).toBe(ARM);
    const assigned = await suite.world().assignedFor('nmi-t0', 'app');
    expect(assigned.map((entry) => entry.status?.status)).toEqual(['Assigned']);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('serves the second request from the cache (one IMDS call) and audits both without the token', async () => {
    const identity = await boundIdentity('nmi-cache', 'cached');
    const ip = address();
    await pod('nmi-cache', 'app', identity.selector, ip);
    const first = await tokenRequest(nmi, ip, { resource: 'https://vault.azure.net' });
    expect(first.status, first.text).toBe(200);
    const { entries: before } = await suite.world().admin.requests({ service: 'imds' });
    const second = await tokenRequest(nmi, ip, { resource: 'https://vault.azure.net' });
    expect(second.status).toBe(200);
    expect(second.json()['access_token']).toBe(first.json()['access_token']);
    const { entries: after } = await suite.world().admin.requests({ service: 'imds' });
    expect(after.length).toBe(before.length);
    await vi.waitFor(() => {
      const audits = nmi.audits().map((record) => record['audit'] as Record<string, unknown>).filter((audit) => audit['namespace'] === 'nmi-cache');
      expect(audits.slice(-2).map((audit) => [audit['decision'], audit['cacheHit']])).toEqual([['issued', false], ['issued', true]]);
    });
    expect(nmi.output()).not.toContain(String(first.json()['access_token']));
  });

  it('selects by client_id, msi_res_id, mi_res_id and object_id among the pod’s identities, and refuses others', async () => {
    const world = suite.world();
    const one = await boundIdentity('nmi-select', 'one');
    const azureTwo = await world.azureIdentity(`two-${randomUUID().slice(0, 6)}`);
    // A second identity bound by the same selector.
    await world.createIdentity('nmi-select', 'two', { type: 0, resourceID: azureTwo.id, clientID: azureTwo.clientId });
    await world.createBinding('nmi-select', 'two-binding', 'two', one.selector);
    const stranger = await world.azureIdentity(`stranger-${randomUUID().slice(0, 6)}`);
    const ip = address();
    await pod('nmi-select', 'app', one.selector, ip);

    const byClient = await tokenRequest(nmi, ip, { resource: ARM, client_id: azureTwo.clientId.toUpperCase() });
    expect(byClient.status, byClient.text).toBe(200);
    expect(decodeJwt(String(byClient.json()['access_token']))['appid']).toBe(azureTwo.clientId);
    const byResource = await tokenRequest(nmi, ip, { resource: ARM, msi_res_id: one.id });
    expect(byResource.status, byResource.text).toBe(200);
    expect(decodeJwt(String(byResource.json()['access_token']))['appid']).toBe(one.clientId);
    const byOldName = await tokenRequest(nmi, ip, { resource: ARM, mi_res_id: azureTwo.id });
    expect(byOldName.status).toBe(200);
    const byObject = await tokenRequest(nmi, ip, { resource: ARM, object_id: one.principalId });
    expect(byObject.status, byObject.text).toBe(200);
    expect(decodeJwt(String(byObject.json()['access_token']))['oid']).toBe(one.principalId);

    const none = await tokenRequest(nmi, ip, { resource: ARM });
    expect(none.status).toBe(400);
    expect(none.json()['error_description']).toContain('Multiple user assigned identities exist');
    const wrongClient = await tokenRequest(nmi, ip, { resource: ARM, client_id: stranger.clientId });
    expect([404]).toContain(wrongClient.status);
    expect(wrongClient.json()).toHaveProperty('error_description');
    const wrongObject = await tokenRequest(nmi, ip, { resource: ARM, object_id: stranger.principalId });
    expect(wrongObject.status).toBeGreaterThanOrEqual(400);
    expect(wrongObject.json()).not.toHaveProperty('access_token');
  });

  it('refuses a namespaced identity to a pod of another namespace even when an AAI says otherwise', async () => {
    const world = suite.world();
    const identity = await boundIdentity('nmi-ns-a', 'private', { 'aadpodidentity.k8s.io/Behavior': 'namespaced' });
    await world.namespace('nmi-ns-b');
    const ip = address();
    await pod('nmi-ns-b', 'intruder', identity.selector, ip);
    // A forged AAI (as a rogue or buggy MIC could write) binding the intruder to the namespaced identity.
    const raw = (await rawRequest(world.kc, { method: 'GET', path: '/apis/aadpodidentity.k8s.io/v1/namespaces/nmi-ns-a/azureidentities/private' })) as Record<string, unknown>;
    await rawRequest(world.kc, {
      method: 'POST',
      path: '/apis/aadpodidentity.k8s.io/v1/namespaces/default/azureassignedidentities',
      body: {
        apiVersion: 'aadpodidentity.k8s.io/v1',
        kind: 'AzureAssignedIdentity',
        metadata: { name: 'intruder-nmi-ns-b-private', labels: { nodename: node } },
        spec: { azureIdentityRef: raw, azureBindingRef: { apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzureIdentityBinding', metadata: { name: 'x', namespace: 'nmi-ns-b' }, spec: { azureIdentity: 'private', selector: identity.selector } }, pod: 'intruder', podNamespace: 'nmi-ns-b', nodename: node },
        status: { status: 'Assigned' },
      },
    });
    const response = await tokenRequest(nmi, ip, { resource: ARM, client_id: identity.clientId });
    expect(response.status).toBe(404);
    expect(response.json()).not.toHaveProperty('access_token');
  });
});

describe('types 1 and 2 (service principals)', () => {
  it('serves a client-secret token and drops it when the Secret changes', async () => {
    const world = suite.world();
    await world.namespace('nmi-sp');
    const secret = `s-${randomUUID()}`;
    const principal = await world.admin.seedServicePrincipal({ displayName: 'sp-secret', secret });
    await rawRequest(world.kc, { method: 'POST', path: '/api/v1/namespaces/nmi-sp/secrets', body: { metadata: { name: 'sp-secret' }, stringData: { clientSecret: secret } } });
    await world.createIdentity('nmi-sp', 'sp', { type: 1, tenantID: world.sim.tenantId, clientID: principal.appId, clientPassword: { name: 'sp-secret', namespace: 'nmi-sp' }, adEndpoint: world.sim.entraUrl });
    await world.createBinding('nmi-sp', 'sp-binding', 'sp', 'sp-selector');
    const ip = address();
    await pod('nmi-sp', 'app', 'sp-selector', ip);
    const response = await tokenRequest(nmi, ip, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    const claims = decodeJwt(String(response.json()['access_token']));
    expect(claims['appid']).toBe(principal.appId);
    expect(claims['tid']).toBe(world.sim.tenantId);
    expect(nmi.output()).not.toContain(secret);

    const cached = await tokenRequest(nmi, ip, { resource: ARM });
    expect(cached.json()['access_token']).toBe(response.json()['access_token']);
    // Rotate: the Secret now holds a wrong value, so a fresh call must fail (proving the cache was dropped).
    await rawRequest(world.kc, { method: 'PATCH', path: '/api/v1/namespaces/nmi-sp/secrets/sp-secret', contentType: 'application/merge-patch+json', body: { stringData: { clientSecret: 'not-the-secret' } } });
    let after = await tokenRequest(nmi, ip, { resource: ARM });
    for (let attempt = 0; after.status === 200 && attempt < 50; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await tokenRequest(nmi, ip, { resource: ARM });
    }
    expect(after.status).toBe(403);
    expect(String(after.json()['error_description'])).toMatch(/AADSTS/);
    expect(nmi.output()).not.toContain('not-the-secret');
  });

  it('answers a service principal with auxiliary tenants with an array of tokens, primary first (upstream shape)', async () => {
    const world = suite.world();
    await world.namespace('nmi-aux');
    const secret = `s-${randomUUID()}`;
    const principal = await world.admin.seedServicePrincipal({ displayName: 'sp-aux', secret });
    await rawRequest(world.kc, { method: 'POST', path: '/api/v1/namespaces/nmi-aux/secrets', body: { metadata: { name: 'sp-aux' }, stringData: { only: secret } } });
    // The simulator has one tenant, so the auxiliary tenant is that tenant again (by its domain name).
    await world.createIdentity('nmi-aux', 'aux', { type: 1, tenantID: world.sim.tenantId, auxiliaryTenantIDs: ['contoso.onmicrosoft.com'], clientID: principal.appId, clientPassword: { name: 'sp-aux', namespace: 'nmi-aux' }, adEndpoint: world.sim.entraUrl });
    await world.createBinding('nmi-aux', 'aux-binding', 'aux', 'aux-selector');
    const ip = address();
    await pod('nmi-aux', 'app', 'aux-selector', ip);
    const response = await tokenRequest(nmi, ip, { resource: ARM });
    expect(response.status, response.text).toBe(200);
    const tokens = JSON.parse(response.text) as Record<string, unknown>[];
    expect(Array.isArray(tokens)).toBe(true);
    expect(tokens).toHaveLength(2);
    for (const token of tokens) expect(decodeJwt(String(token['access_token']))['appid']).toBe(principal.appId);
  });

  it('serves a certificate token from a PKCS#12 Secret', async () => {
    const world = suite.world();
    await world.namespace('nmi-cert');
    const certificate = createSelfSignedCertificate('nmi cert identity');
    const principal = await world.admin.seedServicePrincipal({ displayName: 'sp-cert', certificatePem: certificate.certPem });
    const p12 = Buffer.from(toPkcs12(certificate, 'pfx-pass')).toString('base64');
    await rawRequest(world.kc, { method: 'POST', path: '/api/v1/namespaces/nmi-cert/secrets', body: { metadata: { name: 'sp-cert' }, data: { certificate: p12, password: Buffer.from('pfx-pass').toString('base64') } } });
    await world.createIdentity('nmi-cert', 'cert', { type: 2, tenantID: world.sim.tenantId, clientID: principal.appId, clientPassword: { name: 'sp-cert', namespace: 'nmi-cert' }, adEndpoint: world.sim.entraUrl });
    await world.createBinding('nmi-cert', 'cert-binding', 'cert', 'cert-selector');
    const ip = address();
    await pod('nmi-cert', 'app', 'cert-selector', ip);
    const response = await tokenRequest(nmi, ip, { resource: 'https://vault.azure.net' });
    expect(response.status, response.text).toBe(200);
    expect(response.json()['resource']).toBe('https://vault.azure.net');
    expect(decodeJwt(String(response.json()['access_token']))['appid']).toBe(principal.appId);
  });
});

describe('who may ask', () => {
  it('gives an excepted pod a token from the node’s IMDS for the client_id it names', async () => {
    const world = suite.world();
    // An identity assigned to the node for some other pod.
    const identity = await boundIdentity('nmi-exc', 'node-side');
    const holder = address();
    await pod('nmi-exc', 'holder', identity.selector, holder);
    expect((await tokenRequest(nmi, holder, { resource: ARM })).status).toBe(200);
    await world.apply({ apiVersion: 'aadpodidentity.k8s.io/v1', kind: 'AzurePodIdentityException', metadata: { name: 'exc', namespace: 'nmi-exc' }, spec: { podLabels: { app: 'Agent' } } });
    const ip = address();
    await rawRequest(world.kc, {
      method: 'POST',
      path: '/api/v1/namespaces/nmi-exc/pods',
      body: { metadata: { name: 'agent', labels: { app: 'agent' } }, spec: { nodeName: node, containers: [{ name: 'c', image: 'example.invalid/a:1' }] } },
    });
    await world.setPodPhase('nmi-exc', 'agent', 'Running', ip);
    let response = await tokenRequest(nmi, ip, { resource: ARM, client_id: identity.clientId });
    for (let attempt = 0; response.status !== 200 && attempt < 30; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await tokenRequest(nmi, ip, { resource: ARM, client_id: identity.clientId });
    }
    expect(response.status, response.text).toBe(200);
    // The log line may still be in the pipe.
    await vi.waitFor(() => {
      const audit = nmi.audits().map((record) => record['audit'] as Record<string, unknown>).findLast((entry) => entry['pod'] === 'agent');
      expect(audit?.['identity']).toBe('node (exception)');
    });
  });

  it('refuses an address that is no pod of this node, without a token', async () => {
    const response = await tokenRequest(nmi, '127.10.250.250', { resource: ARM });
    expect(response.status).toBe(500);
    expect(response.json()).toMatchObject({ error: 'internal_error' });
    expect(response.json()).not.toHaveProperty('access_token');
  });

  it('answers /host/token only from 127.0.0.1, for a named pod of this node', async () => {
    const identity = await boundIdentity('nmi-host', 'host-id');
    const ip = address();
    await pod('nmi-host', 'app', identity.selector, ip);
    expect((await tokenRequest(nmi, ip, { resource: ARM })).status).toBe(200);
    const path = `/host/token/?resource=${encodeURIComponent(ARM)}`;
    const fromPod = await nmiRequest(nmi, { from: ip, path, headers: { podns: 'nmi-host', podname: 'app' } });
    expect(fromPod.status).toBe(403);
    expect(fromPod.json()).not.toHaveProperty('token');
    const fromHost = await nmiRequest(nmi, { from: '127.0.0.1', path, headers: { podns: 'nmi-host', podname: 'app' } });
    expect(fromHost.status, fromHost.text).toBe(200);
    expect(fromHost.json()['clientid']).toBe(identity.clientId);
    expect((fromHost.json()['token'] as Record<string, unknown>)['resource']).toBe(ARM);
    const missing = await nmiRequest(nmi, { from: '127.0.0.1', path });
    expect(missing.status).toBe(400);
  });

  it('answers protocol errors with IMDS JSON: missing Metadata header, missing resource, non-canonical paths', async () => {
    const ip = address();
    const noHeader = await tokenRequest(nmi, ip, { resource: ARM }, {});
    expect(noHeader.status).toBe(400);
    expect(noHeader.json()).toEqual({ error: 'invalid_request', error_description: 'Required metadata header not specified' });
    const noResource = await tokenRequest(nmi, ip, {});
    expect(noResource.json()).toEqual({ error: 'invalid_request', error_description: 'parameter resource cannot be empty' });
    const backslash = await nmiRequest(nmi, { from: ip, path: '/metadata/identity\\oauth2\\token?resource=x', headers: { Metadata: 'true' } });
    expect(backslash.status).toBe(400);
    expect(backslash.json()['error_description']).toBe('Invalid request');
  });
});
