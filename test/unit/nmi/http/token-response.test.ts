import { describe, expect, it } from 'vitest';
import { imdsTokenBody, imdsTokenPayload } from '../../../../src/nmi/http/token-response.ts';

const now = 1_700_000_000_000;
const token = { accessToken: 'eyJ.x.y', expiresOnMs: now + 86_399_500, notBeforeMs: now - 300_000, resource: 'ignored', clientId: 'c-1' };

describe('IMDS token body', () => {
  it('has every IMDS field, numbers as strings, resource echoed exactly', () => {
    expect(imdsTokenBody(token, 'https://management.azure.com', now)).toEqual({
      access_token: 'eyJ.x.y',
      client_id: 'c-1',
      expires_in: '86399',
      expires_on: String(Math.floor((now + 86_399_500) / 1000)),
      ext_expires_in: '86399',
      not_before: String((now - 300_000) / 1000),
      resource: 'https://management.azure.com',
      token_type: 'Bearer',
    });
  });

  it('never reports a negative lifetime and uses the identity client ID when the token has none', () => {
    const body = imdsTokenBody({ accessToken: 'a', expiresOnMs: now - 1, resource: 'r' }, 'r', now, 'from-identity');
    expect(body.expires_in).toBe('0');
    expect(body.client_id).toBe('from-identity');
  });

  it('is an array for several tokens (auxiliary tenants), primary first', () => {
    const payload = imdsTokenPayload([token, { ...token, accessToken: 'second' }], 'r', now);
    expect(Array.isArray(payload)).toBe(true);
    expect((payload as { access_token: string }[]).map((entry) => entry.access_token)).toEqual(['eyJ.x.y', 'second']);
    expect(Array.isArray(imdsTokenPayload([token], 'r', now))).toBe(false);
  });
});
