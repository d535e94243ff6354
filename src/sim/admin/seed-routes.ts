/**
 * `POST /seed/...`: create one thing with realistic generated IDs and return it (201). Seeding
 * something that exists is a 409; `PUT /state` replaces everything instead.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { SimStore } from '../state/store.ts';
import { AdminError } from './errors.ts';
import { InvalidInputError } from './fields.ts';
import { roleDefinitionId } from './roles.ts';
import { federatedCredentialSetProblems } from './federated-credential-fields.ts';
import { parseFederatedCredentialSeed, parseIdentitySeed, parseResourceGroupSeed, parseRoleAssignmentSeed, parseServicePrincipalSeed, parseVmSeed, parseVmssSeed } from './seed-parse.ts';
import { buildIdentity, buildRoleAssignment, buildScaleSet, buildServicePrincipal, buildVm, resourceGroupId } from './seeds.ts';

function conflict(what: string, id: string): AdminError {
  return new AdminError(409, 'Conflict', `${what} ${id} already exists (PUT /state replaces the whole state)`);
}

// eslint-disable-next-line @typescript-eslint/require-await -- fastify plugins are async; routes register synchronously
export const seedRoutes: FastifyPluginAsync<{ store: SimStore }> = async (app, { store }) => {
  app.post('/seed/resource-group', (request, reply) => {
    const seed = parseResourceGroupSeed(request.body);
    const subscriptionId = seed.subscriptionId ?? randomUUID();
    store.addResourceGroup(subscriptionId, seed.resourceGroup);
    return reply.code(201).send({ subscriptionId, resourceGroup: seed.resourceGroup, id: resourceGroupId(subscriptionId, seed.resourceGroup) });
  });

  app.post('/seed/identity', (request, reply) => {
    const identity = buildIdentity(parseIdentitySeed(request.body), store.tenantId);
    if (store.getIdentity(identity.id) !== undefined) throw conflict('identity', identity.id);
    store.putIdentity(identity);
    return reply.code(201).send(identity);
  });

  app.post('/seed/federated-credential', (request, reply) => {
    const { identityId, ...credential } = parseFederatedCredentialSeed(request.body);
    const identity = store.getIdentity(identityId);
    if (identity === undefined) throw new AdminError(404, 'NotFound', `identity ${identityId} does not exist`);
    if (store.getFederatedCredential(identity.id, credential.name) !== undefined) throw conflict('federated credential', `${identity.id}/federatedIdentityCredentials/${credential.name}`);
    const stored = { ...credential, audiences: [...(credential.audiences ?? [])] };
    const problems = federatedCredentialSetProblems([...store.listFederatedCredentials(identity.id), stored]);
    if (problems.length > 0) throw new InvalidInputError('invalid federated credential seed', problems);
    store.putFederatedCredential(identity.id, stored);
    return reply.code(201).send({ id: `${identity.id}/federatedIdentityCredentials/${stored.name}`, identityId: identity.id, ...stored });
  });

  app.post('/seed/vm', (request, reply) => {
    const vm = buildVm(parseVmSeed(request.body), store.tenantId);
    if (store.getCompute(vm.id) !== undefined) throw conflict('VM', vm.id);
    if (store.findComputeByNodeName(vm.name) !== undefined) throw new AdminError(409, 'Conflict', `node name ${vm.name} is already taken by another VM or scale-set instance`);
    store.putCompute(vm);
    return reply.code(201).send(vm);
  });

  app.post('/seed/vmss', (request, reply) => {
    const scaleSet = buildScaleSet(parseVmssSeed(request.body), store.tenantId);
    if (store.getCompute(scaleSet.id) !== undefined) throw conflict('scale set', scaleSet.id);
    store.putCompute(scaleSet);
    return reply.code(201).send(scaleSet);
  });

  app.post('/seed/service-principal', (request, reply) => {
    const principal = buildServicePrincipal(parseServicePrincipalSeed(request.body), store.tenantId);
    if (store.getServicePrincipal(principal.appId) !== undefined) throw conflict('service principal', principal.appId);
    store.putServicePrincipal(principal);
    return reply.code(201).send(principal);
  });

  app.post('/seed/role-assignment', (request, reply) => {
    const seed = parseRoleAssignmentSeed(request.body);
    const definition = roleDefinitionId(seed.role, seed.scope);
    if (definition === undefined) throw new InvalidInputError('invalid role assignment seed', [`role: ${JSON.stringify(seed.role)} is neither a GUID, a role definition ID nor a known built-in role name`]);
    const assignment = buildRoleAssignment(seed, definition);
    if (store.getRoleAssignment(assignment.id) !== undefined) throw conflict('role assignment', assignment.id);
    store.putRoleAssignment(assignment);
    return reply.code(201).send(assignment);
  });
};
