/**
 * Every error the simulated ARM answers with, in one place: status, code and the exact message text
 * real Azure sends, with the source each text was taken from. The wire envelope is
 * `{"error":{"code","message","target"?,"details"?}}` (azure-protocols.md §3.2); the JS SDKs turn it
 * into a `RestError` whose `code` is `error.code`.
 *
 * Source tags: [issue repo#n] = a real service response quoted in that GitHub thread;
 * [docs path] = Microsoft's documentation in MicrosoftDocs/azure-docs; [code repo path] = a real answer
 * quoted in that repository; [ref §x] = /work/shared/reference/azure-protocols.md; [mem] = from
 * memory, not re-checked; [sim] = the simulator's own wording where no real text was found.
 * @module
 */

/** One entry of `error.details`. */
export interface ArmErrorDetail {
  readonly code: string;
  readonly message: string;
  readonly target?: string;
}

/** The JSON body of every ARM error response. */
export interface ArmErrorBody {
  error: { code: string; message: string; target?: string; details?: ArmErrorDetail[] };
}

/** An ARM error response: thrown by handlers, returned by the pure core, rendered by the plugin. */
export class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  readonly target: string | undefined;
  readonly details: readonly ArmErrorDetail[] | undefined;
  /** Extra response headers (e.g. `WWW-Authenticate` on 401). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { target?: string; details?: readonly ArmErrorDetail[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ArmError';
    this.status = status;
    this.code = code;
    this.target = extra.target;
    this.details = extra.details;
    this.headers = extra.headers ?? {};
  }

  toBody(): ArmErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.target !== undefined ? { target: this.target } : {}),
        ...(this.details !== undefined ? { details: [...this.details] } : {}),
      },
    };
  }
}

// --- authentication (401) ---

/**
 * `WWW-Authenticate` of ARM's 401s. ARM names the public authority; no client follows it unless the
 * header carries `claims` (CAE), so the real value is kept.
 */
function challenge(description: string): Record<string, string> {
  return {
    'www-authenticate': `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="${description}"`,
  };
}

/** [issue hashicorp/terraform-provider-azurerm#3612] */
export function missingAuthorizationHeader(): ArmError {
  return new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.", {
    headers: challenge("The authentication failed because of missing 'Authorization' header."),
  });
}

/** [issue Azure/azure-sdk-for-python#4124] */
export function invalidAuthorizationHeader(): ArmError {
  return new ArmError(401, 'AuthenticationFailedInvalidHeader', "Authentication failed. The 'Authorization' header is provided in an invalid format.", {
    headers: challenge("The authentication failed because of invalid 'Authorization' header."),
  });
}

/** Bad signature, not a JWT, not from the simulated Entra ID. [mem] */
export function invalidAuthenticationToken(): ArmError {
  return new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.', { headers: challenge('The access token is invalid.') });
}

/** .NET's en-US general date/time pattern, which ARM uses in this message: `6/15/2026 8:22:51 AM`. */
function dotnetUtc(epochMs: number): string {
  const date = new Date(epochMs);
  const hours24 = date.getUTCHours();
  const hours12 = hours24 % 12 === 0 ? 12 : hours24 % 12;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getUTCMonth() + 1}/${date.getUTCDate()}/${date.getUTCFullYear()} ${hours12}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} ${hours24 < 12 ? 'AM' : 'PM'}`;
}

/** [issue microsoft/foundry-dev-tools#461, microsoft/vscode-azureappservice#2483] */
export function expiredAuthenticationToken(expiresAtMs: number, nowMs: number): ArmError {
  const message = `The access token expiry UTC time '${dotnetUtc(expiresAtMs)}' is earlier than current UTC time '${dotnetUtc(nowMs)}'.`;
  return new ArmError(401, 'ExpiredAuthenticationToken', message, { headers: challenge('The access token has expired.') });
}

/** The audiences ARM accepts, in the order its message lists them. */
export const ARM_AUDIENCES = ['https://management.core.windows.net/', 'https://management.core.windows.net', 'https://management.azure.com/', 'https://management.azure.com'] as const;

/**
 * [issue hashicorp/go-azure-helpers#51, Azure-Samples/active-directory-dotnetcore-daemon-v2#145]
 * `allowed`: every audience this ARM accepts (the public ones and its own endpoints), as the message lists them.
 */
export function invalidAudience(audience: string, allowedAudiences: readonly string[] = ARM_AUDIENCES): ArmError {
  const allowed = allowedAudiences.map((value) => `'${value}'`).join(',');
  const message = `The access token has been obtained for wrong audience or resource '${audience}'. It should exactly match with one of the allowed audiences ${allowed}.`;
  return new ArmError(401, 'InvalidAuthenticationTokenAudience', message, { headers: challenge('The access token has been obtained for wrong audience.') });
}

/** Token of another tenant than the subscription's. [mem] */
export function wrongTenant(issuer: string, tenantId: string): ArmError {
  const message = `The access token is from the wrong issuer '${issuer}'. It must match the tenant 'https://sts.windows.net/${tenantId}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${tenantId}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.`;
  return new ArmError(401, 'InvalidAuthenticationTokenTenant', message, { headers: challenge('The access token is from the wrong issuer.') });
}

// --- authorization (403) ---

/** Who called, as ARM names them in 403 messages. */
export interface CallerIdentity {
  readonly appId: string;
  readonly objectId: string;
}

/** [issue Azure/aad-pod-identity#778; ref §3.2] */
export function authorizationFailed(caller: CallerIdentity, action: string, scope: string): ArmError {
  const message = `The client '${caller.appId}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`;
  return new ArmError(403, 'AuthorizationFailed', message);
}

/**
 * [issue Azure/aad-pod-identity#585; ref §3.2]. Several linked scopes are listed comma-separated in
 * one quoted string (the archived MIC parses them out of the message to retry without them).
 */
export function linkedAuthorizationFailed(caller: CallerIdentity, action: string, scope: string, linkedScopes: readonly string[]): ArmError {
  const message = `The client '${caller.appId}' with object id '${caller.objectId}' has permission to perform action '${action}' on scope '${scope}'; however, it does not have permission to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '${linkedScopes.join(',')}' or the linked scope(s) are invalid.`;
  return new ArmError(403, 'LinkedAuthorizationFailed', message);
}

// --- request shape (400) ---

/** [mem] */
export function missingApiVersion(): ArmError {
  return new ArmError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
}

/** Body is not JSON (or not the JSON object expected). [mem] */
export function invalidRequestContent(reason: string): ArmError {
  return new ArmError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${reason}'.`);
}

/** [mem: CRP's InvalidParameter shape] */
export function invalidParameter(parameter: string, message = `The value of parameter ${parameter} is invalid.`): ArmError {
  return new ArmError(400, 'InvalidParameter', message, { target: parameter });
}

/** [mem] */
export function locationRequired(): ArmError {
  return new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
}

/** Unrouted path. ARM answers with ASP.NET's text. [mem] */
export function noSuchRoute(url: string): ArmError {
  return new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${url}'.`);
}

/** A known path with a method ARM does not serve there. [mem] */
export function methodNotAllowed(method: string): ArmError {
  return new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${method}'.`);
}

// --- not found (404) ---

/** [issue/docs; ref §4.1] — `type` is e.g. `Microsoft.Compute/virtualMachines`. */
export function resourceNotFound(type: string, name: string, resourceGroup: string): ArmError {
  return new ArmError(404, 'ResourceNotFound', `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}

/** [mem] */
export function resourceGroupNotFound(resourceGroup: string): ArmError {
  return new ArmError(404, 'ResourceGroupNotFound', `Resource group '${resourceGroup}' could not be found.`);
}

/** [mem] */
export function subscriptionNotFound(subscriptionId: string): ArmError {
  return new ArmError(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
}

/** Unknown async operation ID (simulator wording). */
export function operationNotFound(operationId: string): ArmError {
  return new ArmError(404, 'NotFound', `The operation '${operationId}' was not found.`);
}

// --- compute identity (400) ---

/** [issue Azure/AzOps#538, kubernetes/autoscaler#1592; ref §3.2] — "exisiting" is Azure's spelling. */
export function invalidIdentityValues(): ArmError {
  return new ArmError(400, 'InvalidIdentityValues', "The 'UserAssignedIdentities' property keys should only be empty json objects, null or the resource exisiting property.");
}

/** [issue hashicorp/terraform-provider-azurerm#17082; ref §3.2] */
export function missingIdentityIds(): ArmError {
  return new ArmError(400, 'MissingIdentityIds', "The identity ids must not be null or empty for 'UserAssigned' identity type.");
}

/** [issue Azure/azure-rest-api-specs#17650; ref §3.2] */
export function userAssignedMapWithoutUserAssignedType(): ArmError {
  return new ArmError(400, 'BadRequest', 'a non-UserAssigned identity type should not contain: userAssignedIdentities');
}

/**
 * CRP wraps the identity RP's answer: `Identity operation for resource '<id>' failed with error
 * 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '<json>'.'.`
 * [issue Azure/aad-pod-identity#515; Azure/bicep#16559]
 */
function failedIdentityOperation(resourceId: string, innerMessage: string): ArmError {
  const inner = JSON.stringify({ error: { code: 'BadRequest', message: innerMessage } });
  const message = `Identity operation for resource '${resourceId}' failed with error 'Failed to perform resource identity operation. Status: 'BadRequest'. Response: '${inner}'.'.`;
  return new ArmError(400, 'FailedIdentityOperation', message);
}

/** An identity in the map does not exist; the ID is lower-cased inside. [issue Azure/aad-pod-identity#515] */
export function identityNotFound(resourceId: string, identityId: string): ArmError {
  return failedIdentityOperation(resourceId, `Resource '${identityId.toLowerCase()}' was not found.`);
}

/** The per-request limit on user-assigned identity changes. [issue Azure/aad-pod-identity#813, Azure/bicep#16559] */
export const MAX_IDENTITY_CHANGES_PER_REQUEST = 150;

/** [issue Azure/aad-pod-identity#813, Azure/bicep#16559] */
export function tooManyIdentityChanges(resourceId: string, count: number): ArmError {
  return failedIdentityOperation(resourceId, `User Assigned Identities Number '${count}' Assign exceed limit '${MAX_IDENTITY_CHANGES_PER_REQUEST}' in one request.`);
}

// --- compute state (409) ---

/**
 * A write while another operation runs on the same resource. CRP's answer to concurrent writes on a
 * VM (response carried `x-ms-ratelimit-remaining-resource: Microsoft.Compute/PutVM3Min…`).
 * [issue Azure/azure-cli#15765; also microsoft/onefuzz#2124]
 */
export function concurrentOperationConflict(): ArmError {
  return new ArmError(409, 'Conflict', 'The request failed due to conflict with a concurrent request. To resolve it, please refer to https://aka.ms/activitylog to get more details on the conflicting requests.');
}

/** Writing a VM that is being deleted. [issue sassoftware/viya4-iac-azure#140, Azure/azure-sdk-for-python#2702] */
export function vmMarkedForDeletion(name: string): ArmError {
  return new ArmError(409, 'OperationNotAllowed', `Operation 'Update VM' is not allowed on VM '${name}' since the VM is marked for deletion. You can only retry the Delete operation (or wait for an ongoing one to complete).`);
}

/** Writing a scale set that is being deleted. [issue microsoft/onefuzz#511; ref §3.2] */
export function scaleSetMarkedForDeletion(name: string): ArmError {
  return new ArmError(409, 'OperationNotAllowed', `Operation 'Update Virtual Machine Scale Set' is not allowed on Virtual Machine Scale Set '${name}' since it is marked for deletion. For more information on your operations, please refer to https://aka.ms/activitylog.`);
}

// --- api-version ---

/**
 * An api-version the resource type does not have (ARM's answer before the RP is called).
 * [issue Azure/azure-cli#28496, MicrosoftDocs/azure-docs#62621]
 */
export function noRegisteredProviderFound(location: string, apiVersion: string, type: string, apiVersions: readonly string[], locations: readonly string[]): ArmError {
  const message = `No registered resource provider found for location '${location}' and API version '${apiVersion}' for type '${type}'. The supported api-versions are '${apiVersions.join(', ')}'. The supported locations are '${locations.join(', ')}'.`;
  return new ArmError(400, 'NoRegisteredProviderFound', message);
}

// --- federated identity credentials (Microsoft.ManagedIdentity) ---

/** Missing issuer, subject or audiences. [issue zioproto/istio-aks-example#6] */
export function federatedCredentialPropertiesMissing(): ArmError {
  return new ArmError(400, 'BadRequest', "The request format was unexpected. Federated Identity Credential must specify 'issuer', 'subject' and 'audience'.");
}

/** [docs articles/active-directory/develop/workload-identity-federation-considerations.md, "Errors"] */
export function federatedCredentialAudienceCount(): ArmError {
  return new ArmError(400, 'BadRequest', 'Federated identity credentials must have exactly 1 audience.');
}

/** 3–120 letters, digits, `-` or `_`, starting with a letter or digit. [docs …/workload-identity-federation-considerations.md, "Errors"] */
export function federatedCredentialNameInvalid(name: string): ArmError {
  return new ArmError(400, 'BadRequest', `Federated Identity Credential name '${name}' is invalid.`);
}

/** A non-https issuer. [sim: code and opening as the missing-properties answer; the rest is the simulator's wording] */
export function federatedCredentialIssuerNotHttps(issuer: string): ArmError {
  return new ArmError(400, 'BadRequest', `The request format was unexpected. Federated Identity Credential issuer '${issuer}' must be a URL with the https scheme.`);
}

/** [docs …/workload-identity-federation-considerations.md, "Errors"; code mem] */
export function federatedCredentialParentNotFound(): ArmError {
  return new ArmError(404, 'NotFound', 'The parent user-assigned identity does not exist.');
}

/**
 * Another credential of the identity has the same issuer and subject. The text is the docs'; the docs
 * table gives 400, but deployments report the code `Conflict` ("Conflict: Issuer and subject
 * combination already exists…", quoted in a project's azd notes), which ARM sends with 409.
 * [docs …/workload-identity-federation-considerations.md, "Errors"; issue Azure/bicep-types-az#2054]
 */
export function federatedCredentialDuplicate(): ArmError {
  return new ArmError(409, 'Conflict', 'Issuer and subject combination already exists for this Managed Identity.');
}

/** At most 20 credentials per identity (docs: "A maximum of 20 federated identity credentials can be added"). */
export const MAX_FEDERATED_CREDENTIALS_PER_IDENTITY = 20;

/**
 * The 21st credential of an identity. [code: "400 BadRequest: Too many Federated Identity Credentials"
 * quoted in a Microsoft repository (fedcred reaper); the rest of the sentence is the simulator's]
 */
export function tooManyFederatedCredentials(identityId: string): ArmError {
  return new ArmError(
    400,
    'BadRequest',
    `Too many Federated Identity Credentials are written to the managed identity '${identityId.toLowerCase()}'. A managed identity can have at most ${MAX_FEDERATED_CREDENTIALS_PER_IDENTITY} Federated Identity Credentials.`,
  );
}

// --- authorization RP ---

/** [ref §4.2] */
export function invalidRoleAssignmentId(name: string): ArmError {
  return new ArmError(400, 'InvalidRoleAssignmentId', `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`);
}

/** [ref §4.2] */
export function roleAssignmentExists(): ArmError {
  return new ArmError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
}

/** Same name, other principal/role/scope. [ref §4.2 code; mem text] */
export function roleAssignmentUpdateNotPermitted(): ArmError {
  return new ArmError(409, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.');
}

/** [ref §4.2; mem for the full text, which shows the object ID without dashes] */
export function principalNotFound(principalId: string, tenantId: string): ArmError {
  const message = `Principal ${principalId.replaceAll('-', '')} does not exist in the directory ${tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`;
  return new ArmError(400, 'PrincipalNotFound', message);
}

/** [mem] */
export function roleDefinitionDoesNotExist(id: string): ArmError {
  return new ArmError(404, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${id}' does not exist.`);
}

/** A PUT naming a role definition that does not exist is a 400 with the same code. [mem] */
export function unknownRoleDefinitionInRequest(id: string): ArmError {
  return new ArmError(400, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${id}' does not exist.`);
}

/** [mem] */
export function roleAssignmentNotFound(): ArmError {
  return new ArmError(404, 'RoleAssignmentNotFound', 'The role assignment does not exist.');
}

/** `$filter` we do not understand. [mem] */
export function unsupportedFilter(filter: string): ArmError {
  return new ArmError(400, 'UnsupportedQuery', `The filter '${filter}' is not supported.`);
}

/** A simulator bug while completing an operation; CRP's generic text. [mem] */
export function internalExecutionError(): ArmError {
  return new ArmError(500, 'InternalExecutionError', 'An internal execution error occurred. Please retry later.');
}
