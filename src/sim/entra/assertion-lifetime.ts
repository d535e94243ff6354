/**
 * The lifetime check Entra ID applies to every client assertion (certificate-signed or federated):
 * now must lie within `nbf`..`exp`, give or take its clock skew; `exp` is required.
 * @module
 */
import { aadsts } from './aadsts.ts';

/** Entra tolerates a few minutes of clock skew on assertions [mem]. */
export const ASSERTION_CLOCK_SKEW_SECONDS = 300;

/** Throws AADSTS700024 unless `nowSeconds` (epoch seconds) is within the assertion's lifetime. */
export function checkAssertionLifetime(claims: { readonly nbf?: number | undefined; readonly exp?: number | undefined }, nowSeconds: number): void {
  const { nbf, exp } = claims;
  const tooEarly = nbf !== undefined && nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS < nbf;
  const expired = exp === undefined || nowSeconds - ASSERTION_CLOCK_SKEW_SECONDS >= exp;
  if (!tooEarly && !expired) return;
  const date = (seconds: number | undefined): Date | undefined => (seconds === undefined ? undefined : new Date(seconds * 1000));
  throw aadsts.assertionOutsideValidity(new Date(nowSeconds * 1000), date(nbf), date(exp));
}
