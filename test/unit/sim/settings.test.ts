import { describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../../src/lib/pki.ts';
import { InvalidSettingsError, parseSettingsPatch, SimSettings } from '../../../src/sim/admin/settings.ts';

describe('simulator settings: Retry-After per operation kind', () => {
  it('defaults to 1 s for every kind (never 0)', () => {
    expect(new SimSettings().data().lroRetryAfterSeconds).toEqual({ vmUpdate: 1, vmssUpdate: 1, vmDelete: 1, vmssDelete: 1 });
  });

  it('changes single kinds in place, so live views of the object see it', () => {
    const settings = new SimSettings({ lroRetryAfterSeconds: { vmssUpdate: 10 } });
    const view = settings.lroRetryAfterSeconds;
    expect(settings.update({ lroRetryAfterSeconds: { vmDelete: 30 } }).lroRetryAfterSeconds).toEqual({ vmUpdate: 1, vmssUpdate: 10, vmDelete: 30, vmssDelete: 1 });
    expect(view.vmDelete).toBe(30);
  });

  it.each([0, -1, 1.5, 3601, '5', null])('refuses %s seconds, naming the reason', (value) => {
    expect(() => parseSettingsPatch({ lroRetryAfterSeconds: { vmUpdate: value } })).toThrow(/lroRetryAfterSeconds\.vmUpdate must be whole seconds from 1 to 3600/);
  });

  it('refuses unknown kinds and a non-object, listing every problem', () => {
    try {
      parseSettingsPatch({ lroRetryAfterSeconds: { vmCreate: 5, vmssUpdate: 0 }, retryAfter: 1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidSettingsError);
      expect((error as InvalidSettingsError).problems).toEqual([
        'unknown option "retryAfter" (known: lroDurationMs, lroRetryAfterSeconds, imdsLimits, enforceRbac, oidcCaPems)',
        'lroRetryAfterSeconds.vmssUpdate must be whole seconds from 1 to 3600 (0 would make clients such as go-autorest poll without pause)',
        'unknown field lroRetryAfterSeconds.vmCreate (known: vmUpdate, vmssUpdate, vmDelete, vmssDelete)',
      ]);
    }
    expect(() => parseSettingsPatch({ lroRetryAfterSeconds: 5 })).toThrow(/lroRetryAfterSeconds must be an object/);
  });
});

describe('simulator settings: CAs trusted for OIDC issuers', () => {
  const ca = createCertificateAuthority('oidc test CA');
  const other = createCertificateAuthority('another CA');

  it('defaults to none and replaces the list on update, splitting bundles', () => {
    const settings = new SimSettings();
    expect(settings.data().oidcCaPems).toEqual([]);
    expect(settings.update({ oidcCaPems: [`${ca.certPem}\n${other.certPem}`] }).oidcCaPems).toEqual([ca.certPem.trim(), other.certPem.trim()]);
    expect(settings.update({ oidcCaPems: [] }).oidcCaPems).toEqual([]);
  });

  it('refuses what is not a list of PEM CA certificates', () => {
    const leaf = ca.issue({ commonName: 'leaf', usage: 'server', dnsNames: ['localhost'] });
    expect(() => parseSettingsPatch({ oidcCaPems: ca.certPem })).toThrow(/oidcCaPems must be an array of PEM certificates/);
    expect(() => parseSettingsPatch({ oidcCaPems: ['hello'] })).toThrow(/oidcCaPems\[0\] must be a PEM certificate/);
    expect(() => parseSettingsPatch({ oidcCaPems: [leaf.certPem] })).toThrow(/oidcCaPems\[0\]: .*leaf.* is not a CA certificate/);
  });
});
