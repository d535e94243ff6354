import { describe, expect, it } from 'vitest';
import { imdsTokenAnswer, imdsTokenBody, imdsTokenPayload } from '../../../../src/nmi/http/token-response.ts';

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

  it('serialises a cached token once per second of its answer, and again when anything in it changes', () => {
    const cached = { ...token };
    const first = imdsTokenAnswer([cached], 'r', now);
    expect(JSON.parse(first.json)).toEqual(imdsTokenPayload([cached], 'r', now));
    expect(first.body).toEqual(imdsTokenPayload([cached], 'r', now));
    // Same second of expires_in: the very same answer.
    expect(imdsTokenAnswer([cached], 'r', now + 400)).toBe(first);
    // A second later, another resource or another client ID: built again, and right.
    for (const [resource, at, clientId] of [['r', now + 1_000, undefined], ['other', now, undefined], ['r', now, 'c-2']] as const) {
      const again = imdsTokenAnswer([cached], resource, at, clientId);
      expect(again).not.toBe(first);
      expect(JSON.parse(again.json)).toEqual(imdsTokenPayload([cached], resource, at, clientId));
    }
    // Several tokens: never reused, same shape as the payload.
    const several = imdsTokenAnswer([cached, { ...token, accessToken: 'second' }], 'r', now);
    expect(JSON.parse(several.json)).toEqual(imdsTokenPayload([cached, { ...token, accessToken: 'second' }], 'r', now));
  });

  it('follows the clock when the token has no not-before', () => {
    const noNotBefore = { accessToken: 'a', expiresOnMs: now + 3_600_000, resource: 'r' };
    const first = imdsTokenAnswer([noNotBefore], 'r', now);
    const later = imdsTokenAnswer([noNotBefore], 'r', now + 1_000);
    expect(JSON.parse(later.json)).toEqual(imdsTokenBody(noNotBefore, 'r', now + 1_000));
    expect(later).not.toBe(first);
  });
});
