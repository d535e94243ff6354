import { describe, expect, it } from 'vitest';
import { classifyPath, type Route } from '../../../../src/nmi/http/routes.ts';

type Kind = Route['kind'];

describe('classifyPath', () => {
  // Upstream pkg/nmi/server/server_test.go TestRouterPathPrefix, one row per upstream case. `upstream`
  // is what gorilla/mux did; `ours` differs only where the module comment says why.
  const upstreamCases: readonly { name: string; path: string; upstream: Kind; ours: Kind }[] = [
    { name: 'token request', path: '/metadata/identity/oauth2/token/', upstream: 'token', ours: 'token' },
    { name: 'token request without / suffix', path: '/metadata/identity/oauth2/token', upstream: 'token', ours: 'token' },
    { name: 'token request with upper case metadata', path: '/Metadata/identity/oauth2/token/', upstream: 'token', ours: 'token' },
    // Upstream proxied it to IMDS (which rejects it); we refuse it ourselves.
    { name: 'token request with upper case identity', path: '/metadata/Identity/oauth2/token/', upstream: 'proxy', ours: 'invalid-token-path' },
    { name: 'host token request', path: '/host/token/', upstream: 'host-token', ours: 'host-token' },
    { name: 'host token request without / suffix', path: '/host/token', upstream: 'host-token', ours: 'host-token' },
    { name: 'instance metadata request', path: '/metadata/instance', upstream: 'instance', ours: 'instance' },
    { name: 'instance metadata request with upper case metadata', path: '/Metadata/instance', upstream: 'instance', ours: 'instance' },
    { name: 'instance metadata request / suffix', path: '/Metadata/instance/', upstream: 'instance', ours: 'instance' },
    { name: 'default metadata request', path: '/metadata/', upstream: 'proxy', ours: 'proxy' },
    { name: 'invalid token request with \\oauth2', path: String.raw`/metadata/identity\oauth2/token/`, upstream: 'invalid-token-path', ours: 'invalid-token-path' },
    { name: 'invalid token request with \\token', path: String.raw`/metadata/identity/oauth2\token/`, upstream: 'invalid-token-path', ours: 'invalid-token-path' },
    { name: 'invalid token request with \\oauth2\\token', path: String.raw`/metadata/identity\oauth2\token/`, upstream: 'invalid-token-path', ours: 'invalid-token-path' },
    { name: 'invalid token request with mix of / and \\', path: String.raw`/metadata/identity/\oauth2\token/`, upstream: 'invalid-token-path', ours: 'invalid-token-path' },
    { name: 'invalid token request with multiple \\', path: String.raw`/metadata/identity\\\oauth2\\token/`, upstream: 'invalid-token-path', ours: 'invalid-token-path' },
  ];

  it.each(upstreamCases)('upstream TestRouterPathPrefix: $name ($path) -> $ours', ({ path, ours }) => {
    expect(classifyPath(path)).toEqual({ kind: ours });
  });

  it('differs from upstream only in the documented capital-I case', () => {
    const differing = upstreamCases.filter((c) => c.upstream !== c.ours).map((c) => c.path);
    expect(differing).toEqual(['/metadata/Identity/oauth2/token/']);
  });

  // What real SDKs send (azure-protocols.md §0.1, §1.1).
  it.each([
    ['@azure/identity (trailing slash + query)', '/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com'],
    ['authority host ending in / (doubled slash)', '//metadata/identity/oauth2/token/?api-version=2018-02-01&resource=x'],
    ['doubled slash without trailing slash', '//metadata/identity/oauth2/token'],
    ['Python / Go / az (no trailing slash)', '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.core.windows.net/'],
    ['METADATA upper case', '/METADATA/identity/oauth2/token'],
    ['mixed case metadata with doubled slash', '//MeTaDaTa/identity/oauth2/token/'],
    ['fragment ignored', '/metadata/identity/oauth2/token#x'],
  ])('SDK form %s is the token route', (_name, path) => {
    expect(classifyPath(path)).toEqual({ kind: 'token' });
  });

  // Non-canonical token paths: all 400, never proxied.
  it.each([
    ['upstream prefix match: tokenX', '/metadata/identity/oauth2/tokenX'],
    ['upstream prefix match: sub-path', '/metadata/identity/oauth2/token/extra'],
    ['two trailing slashes', '/metadata/identity/oauth2/token//'],
    ['three leading slashes', '///metadata/identity/oauth2/token'],
    ['doubled inner slash', '/metadata//identity/oauth2/token'],
    ['encoded slash %2F', '/metadata/identity%2Foauth2/token'],
    ['encoded slash lower case %2f', '/metadata/identity/oauth2%2ftoken'],
    ['encoded backslash %5C', '/metadata/identity%5Coauth2%5Ctoken'],
    ['double-encoded slash %252F', '/metadata/identity%252Foauth2/token'],
    ['encoded letter', '/%6Detadata/identity/oauth2/token'],
    ['encoded trailing dot', '/metadata/identity/oauth2/token/%2e'],
    ['dot segment', '/metadata/./identity/oauth2/token'],
    ['dot-dot segment', '/metadata/identity/x/../oauth2/token'],
    ['leading dot-dot', '/../metadata/identity/oauth2/token'],
    ['prefix before metadata', '/x/../metadata/identity/oauth2/token'],
    ['via host token path', '/host/token/../../metadata/identity/oauth2/token'],
    ['upper case OAUTH2', '/metadata/identity/OAUTH2/token'],
    ['upper case TOKEN', '/metadata/identity/oauth2/TOKEN'],
    ['backslash before metadata', String.raw`\metadata\identity\oauth2\token`],
    ['mixed case everywhere with backslash', String.raw`/MetaData\Identity\OAuth2\Token`],
    ['newline inside', '/metadata/identity/\noauth2/token'],
  ])('non-canonical token path (%s) is invalid-token-path', (_name, path) => {
    expect(classifyPath(path)).toEqual({ kind: 'invalid-token-path' });
  });

  it.each([
    ['root', '/', 'proxy'],
    ['scheduled events', '/metadata/scheduledevents?api-version=2020-07-01', 'proxy'],
    ['versions', '/metadata/versions', 'proxy'],
    ['identity info (not the token path)', '/metadata/identity/info?api-version=2018-02-01', 'proxy'],
    ['unknown', '/doesnotexist', 'proxy'],
    ['token words only in the query', '/metadata/versions?x=/metadata/identity/oauth2/token', 'proxy'],
    ['empty', '', 'proxy'],
    ['host token prefix (upstream prefix semantics)', '/host/tokenX', 'host-token'],
    ['host token with query', '/host/token/?resource=x', 'host-token'],
    ['host token with upper case is not host token', '/Host/token', 'proxy'],
    ['instance with query', '/metadata/instance?api-version=2021-02-01', 'instance'],
    ['instance leaf', '/metadata/instance/compute/location?format=text', 'instance'],
    ['instance, upper case Instance (block cannot be bypassed)', '/metadata/Instance', 'instance'],
    ['instance, doubled slash', '//metadata/instance', 'instance'],
    ['instance, dot-dot', '/x/../metadata/instance', 'instance'],
    ['instance, encoded letter', '/%6Detadata/instance', 'instance'],
    ['instance, encoded slash', '/metadata%2Finstance', 'instance'],
    ['instance, backslash', String.raw`\metadata\instance`, 'instance'],
  ] as const)('%s: %s', (_name, path, kind) => {
    expect(classifyPath(path)).toEqual({ kind });
  });

  it('does not throw on malformed percent escapes', () => {
    expect(classifyPath('/%zz/%E0%A4%A/%')).toEqual({ kind: 'proxy' });
    expect(classifyPath('/metadata/identity/oauth2/token%')).toEqual({ kind: 'invalid-token-path' });
  });

  it('terminates on deeply nested encodings', () => {
    expect(classifyPath(`/metadata/identity%${'25'.repeat(20)}2Foauth2/token`)).toEqual({ kind: 'invalid-token-path' });
  });
});
