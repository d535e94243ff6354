/**
 * Signs the simulator's access tokens (RS256 JWTs, as Entra ID's v1 tokens) and verifies them for the
 * simulated ARM. The public key is published as a JWKS so tests can verify exactly which identity a
 * token belongs to.
 * @module
 */
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { exportJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';

/** Claims of an access token; `aud`, `iss`, `tid` and the principal's IDs are always present. */
export interface AccessTokenClaims extends JWTPayload {
  aud: string;
  iss: string;
  tid: string;
  oid: string;
  sub: string;
  appid: string;
  /** The client's ID as v2 tokens name it; set on federated-credential tokens, whose callers may read either. */
  azp?: string;
  /** ARM ID of a managed identity (user-assigned identity, or the VM/VMSS for system-assigned). */
  xms_mirid?: string;
  /** ARM ID of the VM or scale set that asked IMDS for the token (newer managed-identity tokens). */
  xms_az_rid?: string;
  /** How the client authenticated: "1" secret, "2" certificate (managed identities: "2"). */
  appidacr?: '0' | '1' | '2';
  /** `"app"` for application (non-user) tokens. */
  idtyp?: string;
  /** Token format version; `sign` defaults it to "1.0". */
  ver?: string;
}

/** A signed token and the instants (epoch seconds) it is valid between. */
export interface IssuedToken {
  readonly token: string;
  readonly notBefore: number;
  readonly expiresOn: number;
}

export class TokenIssuer {
  readonly keyId: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly now: () => number;

  private constructor(privateKey: KeyObject, publicKey: KeyObject, now: () => number) {
    this.privateKey = privateKey;
    this.publicKey = publicKey;
    this.now = now;
    const der = publicKey.export({ type: 'spki', format: 'der' });
    // Entra puts a certificate thumbprint in `kid`/`x5t`; a hash of the key serves the same purpose here.
    this.keyId = createHash('sha1').update(der).digest('base64url');
  }

  /** A fresh RSA 2048 signing key. `now` returns epoch milliseconds (injectable for tests). */
  static create(now: () => number = Date.now): TokenIssuer {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return new TokenIssuer(privateKey, publicKey, now);
  }

  /** The issuer's clock in whole epoch seconds (what `iat`/`nbf` of a token signed now would be). */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Signs `claims` valid from now for `lifetimeSeconds`; `iat`/`nbf`/`exp` are set here. */
  async sign(claims: AccessTokenClaims, lifetimeSeconds: number): Promise<IssuedToken> {
    const notBefore = this.nowSeconds();
    const expiresOn = notBefore + lifetimeSeconds;
    const token = await new SignJWT({ ...claims, ver: claims.ver ?? '1.0' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.keyId, x5t: this.keyId })
      .setIssuedAt(notBefore)
      .setNotBefore(notBefore)
      .setExpirationTime(expiresOn)
      .sign(this.privateKey);
    return { token, notBefore, expiresOn };
  }

  /**
   * Verifies signature, time and audience. Throws (jose's errors) when the token is not one of ours,
   * has expired, or is for another audience.
   */
  async verify(token: string, audiences: readonly string[]): Promise<AccessTokenClaims> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      algorithms: ['RS256'],
      audience: [...audiences],
      currentDate: new Date(this.now()),
      clockTolerance: 5,
    });
    return payload as AccessTokenClaims;
  }

  /** The JWKS document (`{"keys":[…]}`) Entra publishes at its `jwks_uri`. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const jwk = await exportJWK(this.publicKey);
    return { keys: [{ ...jwk, kid: this.keyId, use: 'sig', alg: 'RS256' }] };
  }
}
