/**
 * The Azure simulator's public API: start one in-process, or talk to one through its admin API.
 * @module
 */
export { startAzureSimulator, type AzureSimulator, type AzureSimulatorOptions, type ImdsListener } from './simulator.ts';
export { SimAdminClient, SimAdminError, type RequestQuery, type SeededFederatedCredential } from './client.ts';
export type { FederatedCredentialSeed, IdentitySeed, ResourceGroupSeed, RoleAssignmentSeed, ServicePrincipalSeed, VmSeed, VmssSeed } from './admin/seeds.ts';
export { SimSettings, type ImdsLimits, type SimSettingsData, type SimSettingsPatch } from './admin/settings.ts';
export type { LroKind } from './arm/operations.ts';
export { LroPollLog, type LroPollEntry, type LroPollFilter } from './arm/poll-log.ts';
export { FaultInjector } from './faults/injector.ts';
export type { AppliedFault, FaultAction, FaultRule, FaultRuleInput } from './faults/types.ts';
export { RequestLog, type RequestLogEntry, type RequestLogFilter } from './http/request-log.ts';
export type { ServiceName } from './http/service.ts';
export type * from './state/model.ts';
export { SimStore } from './state/store.ts';
export { TokenIssuer } from './tokens/issuer.ts';
