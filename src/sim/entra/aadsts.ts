/**
 * Entra ID's error responses: an {@link AadstsError} carries the AADSTS code, the OAuth `error` and the
 * HTTP status; {@link aadstsBody} renders the exact JSON shape Entra sends (azure-protocols.md §5.3).
 * Message texts are those real Entra ID returns (quoted in SDK issue threads and docs); the catalogue
 * below names where each comes from.
 * @module
 */

/** The OAuth 2.0 `error` values Entra ID uses for token requests. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_tenant'
  | 'server_error';

/** A token request Entra ID refuses. Throw it from a route; the plugin's error handler renders it. */
export class AadstsError extends Error {
  /** The AADSTS number, e.g. 7000215. */
  readonly aadsts: number;
  readonly oauthError: OAuthErrorCode;
  /** 401 for `invalid_client`, 500 for `server_error`, else 400 (as Entra ID does). */
  readonly statusCode: number;

  constructor(aadsts: number, oauthError: OAuthErrorCode, text: string, options?: ErrorOptions) {
    super(`AADSTS${aadsts}: ${text}`, options);
    this.name = 'AadstsError';
    this.aadsts = aadsts;
    this.oauthError = oauthError;
    this.statusCode = oauthError === 'invalid_client' ? 401 : oauthError === 'server_error' ? 500 : 400;
  }
}

/** The JSON body of an Entra ID token-endpoint error. */
export interface AadstsErrorBody {
  error: OAuthErrorCode;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
}

/** Per-request values Entra puts in every error. */
export interface ErrorContext {
  readonly traceId: string;
  /** The client's `client-request-id` when it sent one (Entra echoes it), else a fresh GUID. */
  readonly correlationId: string;
  readonly now: Date;
  /** Scheme + host the client called, for `error_uri`. */
  readonly baseUrl: string;
}

/** `YYYY-MM-DD HH:MM:SSZ`, Entra's timestamp format. */
export function aadTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export function aadstsBody(error: AadstsError, context: ErrorContext): AadstsErrorBody {
  const timestamp = aadTimestamp(context.now);
  return {
    error: error.oauthError,
    error_description: `${error.message}\r\nTrace ID: ${context.traceId}\r\nCorrelation ID: ${context.correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [error.aadsts],
    timestamp,
    trace_id: context.traceId,
    correlation_id: context.correlationId,
    error_uri: `${context.baseUrl}/error?code=${error.aadsts}`,
  };
}

const CERTIFICATE_CREDENTIALS_DOC = 'https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials';
const CERTIFICATE_CREDENTIALS_DOC_2024 = 'https://learn.microsoft.com/entra/identity-platform/certificate-credentials';
const WORKLOAD_IDENTITY_DOC = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';
const WORKLOAD_IDENTITY_DOC_2024 = 'https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation';

/** .NET's round-trip ("O") format Entra prints instants in: seven fractional digits (`2024-06-04T11:40:28.3451933Z`). */
export function dotnetInstant(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, (_match, milliseconds: string) => `.${milliseconds}0000Z`);
}

/** The errors the simulated token endpoints return, with the texts Entra ID uses. */
export const aadsts = {
  /**
   * [issue/mem] Unknown tenant ID or domain in the URL path: `invalid_request` from the token
   * endpoints, `invalid_tenant` from the discovery documents.
   */
  tenantNotFound: (tenant: string, oauthError: 'invalid_request' | 'invalid_tenant' = 'invalid_request'): AadstsError =>
    new AadstsError(
      90002,
      oauthError,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    ),
  /** [issue] No app registration with this client ID in the tenant. */
  applicationNotFound: (appId: string, tenantId: string): AadstsError =>
    new AadstsError(
      700016,
      'unauthorized_client',
      `Application with identifier '${appId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  /** [verified, azure-protocols.md §5.3] Secret does not match any of the app's secrets. */
  invalidClientSecret: (appId: string): AadstsError =>
    new AadstsError(
      7000215,
      'invalid_client',
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${appId}'.`,
    ),
  /** [mem] Neither a secret nor an assertion was sent. */
  missingClientCredential: (): AadstsError =>
    new AadstsError(7000218, 'invalid_client', "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
  /** [issue] A required form parameter is absent. */
  missingParameter: (name: string): AadstsError =>
    new AadstsError(900144, 'invalid_request', `The request body must contain the following parameter: '${name}'.`),
  /** [mem] Any grant other than client_credentials (the only one simulated). */
  unsupportedGrantType: (grantType: string): AadstsError =>
    new AadstsError(70003, 'unsupported_grant_type', `The app requested an unsupported grant type '${grantType}'.`),
  /** [issue] v2 client-credentials scope without `/.default`. */
  invalidClientCredentialsScope: (scope: string): AadstsError =>
    new AadstsError(
      1002012,
      'invalid_scope',
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  /** [issue] The assertion is not a JWT. */
  malformedAssertion: (cause?: unknown): AadstsError => new AadstsError(50027, 'invalid_request', 'JWT token is invalid or malformed.', { cause }),
  /** [mem] Unsupported `client_assertion_type`. */
  unsupportedAssertionType: (assertionType: string): AadstsError =>
    new AadstsError(
      7000212,
      'invalid_client',
      `The client_assertion_type '${assertionType}' is not supported. Use 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.`,
    ),
  /** [issue] The assertion's thumbprint names no certificate registered on the app. */
  assertionKeyNotFound: (thumbprint: string, appId: string): AadstsError =>
    new AadstsError(
      700027,
      'invalid_client',
      `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${appId}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployment for more information.]`,
    ),
  /** [mem] The signature does not verify with the registered certificate's key. */
  assertionSignatureInvalid: (thumbprint: string, cause?: unknown): AadstsError =>
    new AadstsError(
      700027,
      'invalid_client',
      `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprint}']`,
      { cause },
    ),
  /** [issue] `iss`/`sub` differ from `client_id`. */
  assertionSubjectMismatch: (): AadstsError =>
    new AadstsError(700021, 'invalid_client', `Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at ${CERTIFICATE_CREDENTIALS_DOC} .`),
  /** [issue] `aud` is not this tenant's token endpoint. */
  assertionAudienceMismatch: (): AadstsError =>
    new AadstsError(700023, 'invalid_client', `Client assertion audience claim does not match Realm issuer. Review the documentation at ${CERTIFICATE_CREDENTIALS_DOC} .`),
  /**
   * Outside `nbf`..`exp` (certificate and federated assertions alike). Instants in .NET's round-trip
   * format; an absent `nbf`/`exp` reads as the epoch. [issue AzureAD/microsoft-authentication-library-for-dotnet#4951 (2024 text);
   * Azure/azure-workload-identity#693 (a federated token)]
   */
  assertionOutsideValidity: (now: Date, notBefore: Date | undefined, expiry: Date | undefined): AadstsError =>
    new AadstsError(
      700024,
      'invalid_client',
      `Client assertion is not within its valid time range. Current time: ${dotnetInstant(now)}, assertion valid from ${dotnetInstant(notBefore ?? new Date(0))}, expiry time of assertion ${dotnetInstant(expiry ?? new Date(0))}. Review the documentation at ${CERTIFICATE_CREDENTIALS_DOC_2024}`,
    ),
  // --- federated credentials (workload identity federation) ---
  /**
   * The identity has no federated credential at all. [code: quoted by projects using AKS workload identity,
   * e.g. "AADSTS70025: The client 'a11b37dd-…'(azurekeyvaultsecretsprovider-…) has no configured federated identity credentials."]
   */
  noFederatedCredentials: (clientId: string, displayName: string): AadstsError =>
    new AadstsError(70025, 'invalid_client', `The client '${clientId}'(${displayName}) has no configured federated identity credentials.`),
  /** No credential has the assertion's `iss`. [issue Azure/azure-workload-identity#1200 (2024)] */
  federatedIssuerMismatch: (issuer: string): AadstsError =>
    new AadstsError(
      700211,
      'invalid_client',
      `No matching federated identity record found for presented assertion issuer '${issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WORKLOAD_IDENTITY_DOC_2024}`,
    ),
  /** A credential has the issuer and subject, none the audience. [code AthenZ/athenz AzureAccessTokenProviderTest (a 2024 answer)] */
  federatedAudienceMismatch: (audience: string): AadstsError =>
    new AadstsError(
      700212,
      'invalid_client',
      `No matching federated identity record found for presented assertion audience '${audience}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WORKLOAD_IDENTITY_DOC_2024}`,
    ),
  /** Credentials have the issuer, none the subject. [issue Azure/azure-workload-identity#1200 (2025 text), dotnet/maui#31978] */
  federatedSubjectMismatch: (subject: string): AadstsError =>
    new AadstsError(
      700213,
      'invalid_client',
      `No matching federated identity record found for presented assertion subject '${subject}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WORKLOAD_IDENTITY_DOC}`,
    ),
  /** The subject matches only ignoring case (matching is case-sensitive since 2024). [issue Azure/login#515] */
  federatedSubjectCaseMismatch: (subject: string): AadstsError =>
    new AadstsError(
      7002138,
      'invalid_client',
      `No matching federated identity record found for presented assertion subject '${subject}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: ${WORKLOAD_IDENTITY_DOC}. See breaking change notification and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024.`,
    ),
  /** The issuer's discovery document or keys could not be fetched. [issue Azure/azure-workload-identity#605; its troubleshooting guide] */
  oidcEndpointFailed: (cause?: unknown): AadstsError => new AadstsError(90061, 'invalid_request', 'Request to External OIDC endpoint failed.', { cause }),
  /** The assertion's `kid` is not among the issuer's published keys (after a refetch). [issue Azure/azure-workload-identity#1232] */
  federatedKeyNotFound: (keyId: string, issuer: string): AadstsError =>
    new AadstsError(
      7000272,
      'invalid_client',
      `The certificate with identifier ${keyId} used to sign the federated credential could not be found in the metadata of identity provider ${issuer}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.`,
    ),
  /**
   * The key is published but the signature does not verify. [unverified for federated assertions: the
   * code is Entra's client-assertion signature failure (AzureAD/microsoft-identity-web tests: 700027 =
   * InvalidKeyError); the reason text is Entra's wording when a key is found but fails (AADSTS50013 reports)]
   */
  federatedSignatureInvalid: (cause?: unknown): AadstsError =>
    new AadstsError(700027, 'invalid_client', 'Client assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed.]', { cause }),
  /** [docs] Anything unexpected inside the simulator. */
  internal: (cause: unknown): AadstsError =>
    new AadstsError(50000, 'server_error', 'There was an error issuing a token or an issue with our sign-in service.', { cause }),
} as const;
