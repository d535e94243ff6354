import { describe, expect, it } from 'vitest';
import { classifyImdsPath, queryOf, queryParam } from '../../../../src/sim/imds/paths.ts';

describe('classifyImdsPath', () => {
  it.each([
    ['/metadata/identity/oauth2/token', 'identity-token'],
    ['/metadata/identity/oauth2/token/', 'identity-token'], // MSAL-node adds a slash before the query
    ['//metadata/identity/oauth2/token?api-version=2018-02-01', 'identity-token'], // authority host ending in '/'
    ['/Metadata/Identity/OAuth2/Token/?resource=x', 'identity-token'],
    ['/metadata/instance', 'instance'],
    ['/metadata/instance/compute/location?format=text', 'instance'],
    ['/metadata/versions', 'versions'],
    ['/metadata/attested/document', 'other-metadata'],
    ['/metadata/identity/oauth2/token/extra', 'other-metadata'],
    ['/', 'unknown'],
    ['/latest/meta-data/', 'unknown'],
  ])('%s → %s', (url, kind) => {
    expect(classifyImdsPath(url).kind).toBe(kind);
  });

  it('keeps the instance sub-path as sent', () => {
    expect(classifyImdsPath('/metadata/instance/compute/tagsList/0/name/?api-version=2021-02-01')).toEqual({ kind: 'instance', path: ['compute', 'tagsList', '0', 'name'] });
  });
});

describe('queryParam', () => {
  const query = queryOf('/x?API-Version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F&client_id=&Client_Id=abc');
  it('matches names case-insensitively and decodes values', () => {
    expect(queryParam(query, 'api-version')).toBe('2018-02-01');
    expect(queryParam(query, 'resource')).toBe('https://management.azure.com/');
  });
  it('treats empty values as absent', () => {
    expect(queryParam(query, 'client_id')).toBe('abc');
    expect(queryParam(query, 'object_id')).toBeUndefined();
  });
});
