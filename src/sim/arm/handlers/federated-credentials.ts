/**
 * `…/userAssignedIdentities/{identity}/federatedIdentityCredentials[/{name}]`: synchronous PUT (201
 * created / 200 updated), GET, list, DELETE (200, or 204 when absent), from api-version 2023-01-31
 * (federated-credential-rules.ts). The credentials live on the identity record, so deleting the
 * identity deletes them. RBAC checks the `federatedIdentityCredentials/read|write|delete` actions.
 * @module
 */
import { authorize, listResponse, requireResourceGroup, type ArmContext, type ArmRequest, type ArmResponse } from '../context.ts';
import { federatedCredentialParentNotFound, methodNotAllowed, resourceNotFound } from '../errors.ts';
import { checkFederatedCredentialApiVersion, checkFederatedCredentialName, checkFederatedCredentialWrite, parseFederatedCredentialBody } from '../federated-credential-rules.ts';
import type { ArmRoute } from '../paths.ts';
import { ACTIONS } from '../rbac.ts';
import { federatedCredentialId, IDENTITY_TYPE, renderFederatedCredential } from '../wire/msi.ts';
import type { UserAssignedIdentity } from '../../state/model.ts';

type FederatedCredentialsRoute = Extract<ArmRoute, { kind: 'federatedIdentityCredentials' }>;

/** The identity's ID as the path names it (looked up case-insensitively). */
function identityIdOf(route: FederatedCredentialsRoute): string {
  return `/subscriptions/${route.subscriptionId}/resourceGroups/${route.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${route.identityName}`;
}

function put(context: ArmContext, identity: UserAssignedIdentity, name: string, request: ArmRequest): ArmResponse {
  authorize(context, request.caller, ACTIONS.federatedCredentialWrite, federatedCredentialId(identity.id, name));
  checkFederatedCredentialName(name);
  const existing = context.store.getFederatedCredential(identity.id, name);
  // An update keeps the name as first written, as ARM keeps resource names.
  const credential = parseFederatedCredentialBody(existing?.name ?? name, request.body);
  checkFederatedCredentialWrite(identity.id, context.store.listFederatedCredentials(identity.id), credential);
  context.store.putFederatedCredential(identity.id, credential);
  context.deps.logger.debug({ identityId: identity.id, name: credential.name, issuer: credential.issuer, subject: credential.subject }, 'federated identity credential written');
  return { status: existing === undefined ? 201 : 200, body: renderFederatedCredential(identity, credential) };
}

export function handleFederatedCredentials(context: ArmContext, route: FederatedCredentialsRoute, request: ArmRequest): ArmResponse {
  const identity = context.store.getIdentity(identityIdOf(route));
  // ARM refuses an api-version without the type before the request reaches the RP.
  checkFederatedCredentialApiVersion(request.apiVersion, identity?.location ?? 'eastus');
  requireResourceGroup(context, route.subscriptionId, route.resourceGroup);
  if (identity === undefined) throw federatedCredentialParentNotFound();
  const { name } = route;

  if (name === undefined) {
    if (request.method !== 'GET') throw methodNotAllowed(request.method);
    authorize(context, request.caller, ACTIONS.federatedCredentialRead, `${identity.id}/federatedIdentityCredentials`);
    return listResponse(context.store.listFederatedCredentials(identity.id).map((credential) => renderFederatedCredential(identity, credential)));
  }
  switch (request.method) {
    case 'PUT':
      return put(context, identity, name, request);
    case 'GET': {
      authorize(context, request.caller, ACTIONS.federatedCredentialRead, federatedCredentialId(identity.id, name));
      const credential = context.store.getFederatedCredential(identity.id, name);
      if (credential === undefined) throw resourceNotFound(IDENTITY_TYPE, `${identity.name}/federatedIdentityCredentials/${name}`, route.resourceGroup);
      return { status: 200, body: renderFederatedCredential(identity, credential) };
    }
    case 'DELETE': {
      const credential = context.store.getFederatedCredential(identity.id, name);
      if (credential === undefined) return { status: 204 };
      authorize(context, request.caller, ACTIONS.federatedCredentialDelete, federatedCredentialId(identity.id, credential.name));
      context.store.deleteFederatedCredential(identity.id, credential.name);
      return { status: 200 };
    }
    default:
      throw methodNotAllowed(request.method);
  }
}
