import { describe, expect, it } from 'vitest';
import { audienceFromScope, managedIdentityClaims, servicePrincipalClaims, v1Issuer } from '../../../../src/sim/tokens/claims.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

describe('audienceFromScope', () => {
  it.each([
    ['https://management.azure.com/.default', 'https://management.azure.com'],
    ['https://management.core.windows.net//.default', 'https://management.core.windows.net/'],
    ['api://0b7c1c3e-0000-4000-8000-000000000000/.default', 'api://0b7c1c3e-0000-4000-8000-000000000000'],
    ['  https://vault.azure.net/.default  ', 'https://vault.azure.net'],
    ['https://management.azure.com/.default offline_access openid profile', 'https://management.azure.com'],
  ])('%s → %s', (scope, audience) => {
    expect(audienceFromScope(scope)).toBe(audience);
  });

  it.each([['https://management.azure.com/user_impersonation'], ['/.default'], [''], ['https://a/.default https://b/.default']])('%j is not a client-credentials scope', (scope) => {
    expect(audienceFromScope(scope)).toBeUndefined();
  });
});

describe('claim builders', () => {
  it('managed identity: appid = client ID, oid = sub = principal ID, xms_mirid and xms_az_rid', () => {
    const claims = managedIdentityClaims({
      tenantId: TENANT,
      identity: { clientId: 'client', principalId: 'principal', resourceId: '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id' },
      resource: 'https://management.core.windows.net/',
      computeResourceId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm',
    });
    expect(claims).toMatchObject({
      aud: 'https://management.core.windows.net/',
      iss: `https://sts.windows.net/${TENANT}/`,
      idp: `https://sts.windows.net/${TENANT}/`,
      tid: TENANT,
      appid: 'client',
      appidacr: '2',
      idtyp: 'app',
      oid: 'principal',
      sub: 'principal',
      ver: '1.0',
      xms_mirid: '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id',
      xms_az_rid: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm',
    });
    expect(typeof claims['uti']).toBe('string');
  });

  it.each([
    ['secret', '1'],
    ['certificate', '2'],
  ] as const)('service principal with a %s: appidacr %s, no xms_mirid', (credential, appidacr) => {
    const claims = servicePrincipalClaims({ tenantId: TENANT, appId: 'app', objectId: 'object', audience: 'https://management.azure.com', credential });
    expect(claims).toMatchObject({ aud: 'https://management.azure.com', iss: v1Issuer(TENANT), tid: TENANT, appid: 'app', appidacr, oid: 'object', sub: 'object', idtyp: 'app' });
    expect(claims.xms_mirid).toBeUndefined();
  });

  it('makes each token unique', () => {
    const build = () => servicePrincipalClaims({ tenantId: TENANT, appId: 'a', objectId: 'o', audience: 'x', credential: 'secret' });
    expect(build()['uti']).not.toBe(build()['uti']);
  });
});
