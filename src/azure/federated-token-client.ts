/**
 * Tokens for federated identities (AzureIdentity type 3) from Entra ID: a user-assigned identity that
 * trusts a Kubernetes service account through a federated identity credential (FIC). The caller's own
 * service-account token (a projected token file, audience `api://AzureADTokenExchange`) is the client
 * assertion of a client-credentials grant, sent by @azure/identity's ClientAssertionCredential through
 * the {@link EntraCredentialPool} (entra-credential-pool.ts: scope, credential cache, error conversion).
 *
 * The token file is read again for every exchange (MSAL asks for the assertion on every call, even when
 * its own cache answers): the kubelet rotates it, and nothing needs a restart. A file that cannot be
 * read fails with {@link FederatedTokenFileError} naming it. Entra refusing is a `rejected`
 * {@link TokenRequestError} whose message keeps the AADSTS code and text and adds, for the refusals of
 * the federation itself, what they mean here ({@link federatedRefusalCause}). The assertion is never in
 * an error: it is redacted by value, anything JWT-shaped is redacted anyway, and the raw SDK errors
 * are not kept as causes ({@link federatedFailure}).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { ClientAssertionCredential } from '@azure/identity';
import { FEDERATED_TOKEN_AUDIENCE } from '../api/index.ts';
import { findInChain, PodIdentityError, RetryAfterError } from '../lib/errors.ts';
import { EntraCredentialPool, type EntraCredentialPoolOptions } from './entra-credential-pool.ts';
import { TokenRequestError } from './token-errors.ts';
import type { AccessToken } from './access-token.ts';

export interface FederatedTokenRequest {
  readonly tenantId: string;
  /** The user-assigned identity's client ID. */
  readonly clientId: string;
  /** v1 resource (audience), e.g. `https://management.azure.com/`. */
  readonly resource: string;
  /** The AzureIdentity's `adEndpoint`; default the cloud's authority host. */
  readonly adEndpoint?: string | undefined;
}

export interface FederatedTokenClientOptions extends EntraCredentialPoolOptions {
  /** The service-account token presented as the assertion, read for every exchange. */
  readonly tokenFile: string;
  /** Reads the token file; default `fs.readFile` as UTF-8 (tests pass their own). */
  readonly readTokenFile?: (path: string) => Promise<string>;
}

/** The service-account token file is missing, unreadable or empty: NMI has nothing to present. */
export class FederatedTokenFileError extends PodIdentityError {
  constructor(message: string) {
    super('PI_FEDERATED_TOKEN_FILE', message);
  }
}

/** Reads the assertion from `path`: the file's content without surrounding whitespace. */
export async function readAssertion(path: string, read: (path: string) => Promise<string> = (file) => readFile(file, 'utf8')): Promise<string> {
  const where = `NMI's service-account token file ${path} (--federated-token-file; chart: the projected token volume, nmi.federatedToken)`;
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' || code === 'EPERM' ? 'NMI may not read it' : code === 'EISDIR' ? 'it is a directory' : `read failed${typeof code === 'string' ? ` (${code})` : ''}`;
    throw new FederatedTokenFileError(`cannot read ${where}: ${why}`);
  }
  const assertion = text.trim();
  if (assertion === '') throw new FederatedTokenFileError(`${where} is empty`);
  return assertion;
}

const NO_MATCHING_CREDENTIAL = 'no federated identity credential of the identity';

/**
 * What an Entra refusal of a federated exchange means, by AADSTS code (the texts real Entra ID sends
 * for them are terse); undefined for codes that need no explanation here. Pure.
 */
export function federatedRefusalCause(aadstsCode: string | undefined, tokenFile: string): string | undefined {
  switch (aadstsCode) {
    case 'AADSTS70025':
      return `the identity has no federated identity credential: create one with the cluster's service-account issuer, NMI's subject and the audience ${FEDERATED_TOKEN_AUDIENCE}`;
    case 'AADSTS70021':
      return `${NO_MATCHING_CREDENTIAL} matches the issuer, subject and audience of NMI's service-account token`;
    case 'AADSTS700211':
      return `${NO_MATCHING_CREDENTIAL} trusts the issuer of NMI's service-account token (the FIC's issuer must be the cluster's service-account issuer)`;
    case 'AADSTS700212':
      return `${NO_MATCHING_CREDENTIAL} accepts the audience of NMI's service-account token (both must be ${FEDERATED_TOKEN_AUDIENCE}: chart value nmi.federatedToken.audience)`;
    case 'AADSTS700213':
      return `${NO_MATCHING_CREDENTIAL} names the subject of NMI's service-account token (the FIC's subject must be system:serviceaccount:<NMI's namespace>:<NMI's service account>)`;
    case 'AADSTS7002138':
      return `a federated identity credential of the identity names the subject of NMI's service-account token only ignoring case (Entra ID compares subjects case-sensitively)`;
    case 'AADSTS700024':
      return `NMI's service-account token has expired or is not valid yet (the kubelet refreshes ${tokenFile}; check the projected volume and the node's clock)`;
    case 'AADSTS50166':
    case 'AADSTS501661':
    case 'AADSTS90061':
      return "Entra ID could not fetch the issuer's OpenID configuration or signing keys (the cluster's service-account issuer must be reachable from Entra ID over HTTPS)";
    case 'AADSTS7000272':
    case 'AADSTS700027':
      return "the signature of NMI's service-account token does not verify with the keys the issuer publishes (jwks_uri)";
    case 'AADSTS50027':
      return `${tokenFile} does not hold a valid JWT`;
    case 'AADSTS700016':
      return "Entra ID knows no identity with this client ID in the tenant (the AzureIdentity's clientID and tenantID)";
    default:
      return undefined;
  }
}

/**
 * The error to report for a failed exchange: the file error when the assertion could not be read,
 * else the token error with the meaning of a federation refusal added. Its cause chain keeps only how
 * long to back off: @azure/identity's and MSAL's errors carry Entra's answer unsanitised, and an
 * answer could echo the assertion (the message has the sanitised description). Pure.
 */
export function federatedFailure(error: TokenRequestError, tokenFile: string): Error {
  const fileError = findInChain(error, FederatedTokenFileError);
  if (fileError !== undefined) return fileError;
  const meaning = error.kind === 'rejected' ? federatedRefusalCause(error.aadstsCode, tokenFile) : undefined;
  const reason = [error.reason, meaning].filter((part) => part !== undefined && part !== '').join(': ');
  const upstream = { status: error.upstreamStatus, error: error.upstreamError, aadstsCode: error.aadstsCode, description: error.upstreamDescription };
  const retryAfterMs = error.retryAfterMs;
  const backoff = retryAfterMs === undefined ? undefined : new RetryAfterError('Entra ID throttled the token request', retryAfterMs, { code: 'PI_ENTRA_THROTTLED' });
  return new TokenRequestError(error.kind, error.context, { upstream, ...(reason === '' ? {} : { reason }), ...(backoff === undefined ? {} : { cause: backoff }) });
}

export class FederatedTokenClient {
  private readonly pool: EntraCredentialPool;
  private readonly tokenFile: string;
  private readonly read: (path: string) => Promise<string>;
  /** The assertion read last, redacted from error descriptions. */
  private lastAssertion: string | undefined;

  constructor(options: FederatedTokenClientOptions) {
    this.pool = new EntraCredentialPool(options);
    this.tokenFile = options.tokenFile;
    this.read = options.readTokenFile ?? ((path) => readFile(path, 'utf8'));
  }

  /** Credentials currently cached (one per tenant, client ID and authority). */
  get cachedCredentials(): number {
    return this.pool.size;
  }

  /**
   * A token for `request.resource`. Rejects with a {@link TokenRequestError}, a
   * {@link FederatedTokenFileError}, or the signal's reason when `signal` aborts first.
   */
  async getToken(request: FederatedTokenRequest, signal?: AbortSignal): Promise<AccessToken> {
    const { tenantId, clientId } = request;
    try {
      return await this.pool.getToken(
        {
          tenantId,
          clientId,
          resource: request.resource,
          adEndpoint: request.adEndpoint,
          credentialKey: '',
          createCredential: (options) => new ClientAssertionCredential(tenantId, clientId, () => this.assertion(), options),
          redact: () => (this.lastAssertion === undefined ? [] : [this.lastAssertion]),
        },
        signal,
      );
    } catch (error) {
      throw error instanceof TokenRequestError ? federatedFailure(error, this.tokenFile) : error;
    }
  }

  /** Closes the pool's connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async assertion(): Promise<string> {
    const assertion = await readAssertion(this.tokenFile, this.read);
    this.lastAssertion = assertion;
    return assertion;
  }
}
