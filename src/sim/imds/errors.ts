/**
 * IMDS error responses. Handlers throw {@link ImdsError}; the plugin's error handler sends `status`
 * and `body` as JSON (every body must be JSON: a plain-text body makes @azure/identity report a
 * network error, azure-protocols.md §0.3). Identity endpoint bodies are `{error, error_description}`;
 * the instance endpoint uses the `{"error": "Bad request. …"}` form.
 * @module
 */

/** The body of an IMDS error response. */
export type ImdsErrorBody = Record<string, string | string[]>;

export class ImdsError extends Error {
  readonly statusCode: number;
  readonly body: ImdsErrorBody;

  constructor(statusCode: number, body: ImdsErrorBody) {
    super(typeof body['error_description'] === 'string' ? body['error_description'] : String(body['error']));
    this.name = 'ImdsError';
    this.statusCode = statusCode;
    this.body = body;
  }
}

/** API versions IMDS advertises (newest first); `/metadata/versions` lists them oldest first. */
export const IMDS_API_VERSIONS = [
  '2023-07-01',
  '2021-12-13',
  '2021-11-15',
  '2021-11-01',
  '2021-10-01',
  '2021-05-01',
  '2021-03-01',
  '2021-02-01',
  '2021-01-01',
  '2020-12-01',
  '2020-10-01',
  '2020-09-01',
  '2020-07-15',
  '2020-06-01',
  '2019-11-01',
  '2019-08-15',
  '2019-08-01',
  '2019-06-04',
  '2019-06-01',
  '2019-04-30',
  '2019-03-11',
  '2019-02-01',
  '2018-10-01',
  '2018-04-02',
  '2018-02-01',
  '2017-12-01',
  '2017-10-01',
  '2017-08-01',
  '2017-04-02',
  '2017-03-01',
] as const;

const identityError = (description: string): ImdsError => new ImdsError(400, { error: 'invalid_request', error_description: description });

export const imdsErrors = {
  /** [docs/issue] No `Metadata: true` header on an identity request (also what SDK probes get). */
  identityMetadataHeaderMissing: (): ImdsError => identityError('Required metadata header not specified'),
  /** [docs] No `Metadata: true` header on an instance-metadata request. */
  instanceMetadataHeaderMissing: (): ImdsError => new ImdsError(400, { error: 'Bad request. Required metadata header not specified' }),
  /** [docs] Missing or malformed `api-version` (same body on every category). */
  apiVersionMissing: (): ImdsError =>
    new ImdsError(400, {
      error: 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds',
      'newest-versions': IMDS_API_VERSIONS.slice(0, 3),
    }),
  /** [src: IMDS emulators quoting the service] No `resource` on a token request. */
  resourceMissing: (): ImdsError => identityError('Required audience parameter not specified'),
  /** [issue aad-pod-identity#1085, azure-sdk-for-net#37278] The identity is not on this VM. */
  identityNotFound: (): ImdsError => identityError('Identity not found'),
  /** [issue/src] No selector, no system-assigned identity, several user-assigned ones. */
  multipleUserAssignedIdentities: (): ImdsError =>
    identityError('Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request'),
  /** [docs: requests with X-Forwarded-For are refused; exact text unverified] */
  forwardedRequest: (): ImdsError => identityError('Request contains X-Forwarded-For header, which is not allowed'),
  /** [docs: 429 body undocumented; text is ours] */
  tooManyRequests: (reason: 'rate' | 'concurrency'): ImdsError =>
    new ImdsError(429, {
      error: 'too_many_requests',
      error_description:
        reason === 'rate' ? 'Too many requests: the Managed Identity request rate limit for this VM was exceeded' : 'Too many requests: too many concurrent Managed Identity requests for this VM',
    }),
  /** [docs] Only GET is supported. */
  methodNotAllowed: (): ImdsError => new ImdsError(405, { error: 'Bad request. Only GET requests are supported.' }),
  /** A path IMDS does not serve here. */
  notFound: (): ImdsError => new ImdsError(404, { error: 'Not found' }),
} as const;

/** Whether `value` is a plausible IMDS api-version (`YYYY-MM-DD`, optionally `-preview`). */
export function isApiVersion(value: string | undefined): value is string {
  return value !== undefined && /^\d{4}-\d{2}-\d{2}(-preview)?$/.test(value);
}
