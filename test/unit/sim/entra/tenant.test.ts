import { describe, expect, it } from 'vitest';
import { resolveTenant } from '../../../../src/sim/entra/tenant.ts';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

describe('resolveTenant', () => {
  it.each([
    [TENANT, TENANT],
    [TENANT.toUpperCase(), TENANT],
    ['contoso.onmicrosoft.com', TENANT],
    ['Contoso.OnMicrosoft.com', TENANT],
    ['00000000-0000-0000-0000-000000000000', undefined],
    ['common', undefined],
    ['contoso.com', undefined],
    ['a.b.onmicrosoft.com', undefined],
  ])('%s → %s', (segment, expected) => {
    expect(resolveTenant(segment, TENANT)).toBe(expected);
  });
});
