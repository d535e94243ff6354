import { describe, expect, it } from 'vitest';
import { isGuid, isLabelValue, isTenantId } from '../../../src/api/index.ts';

describe('formats', () => {
  it.each([
    ['11111111-1111-1111-1111-111111111111', true],
    ['ABCDEFAB-cdef-0123-4567-89abcdef0123', true],
    ['{11111111-1111-1111-1111-111111111111}', false],
    ['11111111111111111111111111111111', false],
    ['11111111-1111-1111-1111-11111111111g', false],
    ['', false],
  ])('isGuid(%j) is %s', (value, expected) => {
    expect(isGuid(value)).toBe(expected);
  });

  it.each([
    ['22222222-2222-2222-2222-222222222222', true],
    ['contoso.onmicrosoft.com', true],
    ['contoso-eu.example.co.uk', true],
    ['contoso', false],
    ['Contoso Ltd', false],
    ['-contoso.com', false],
    ['contoso..com', false],
  ])('isTenantId(%j) is %s', (value, expected) => {
    expect(isTenantId(value)).toBe(expected);
  });

  it.each([
    ['storage-reader', true],
    ['A.b_c-9', true],
    ['x', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['', false],
    ['-leading', false],
    ['trailing.', false],
    ['app=web', false],
    ['with space', false],
  ])('isLabelValue(%j) is %s', (value, expected) => {
    expect(isLabelValue(value)).toBe(expected);
  });
});
