/**
 * Flags shared by `identity create` and `node-identity enable` (Go flag syntax, src/lib/go-flags.ts),
 * and the help text built from a table.
 * @module
 */
import { boolFlag, durationFlag, optionalStringFlag, renderFlagHelp, type FlagGroup, type FlagTable } from '../../lib/go-flags.ts';
import { checkGuid } from '../azure/resource-ids.ts';

export const COMMON_GROUPS: readonly FlagGroup[] = [
  { key: 'what', title: 'What to do', compatibility: 'new' },
  { key: 'federated', title: 'Federated identity (--federated)', compatibility: 'new' },
  { key: 'azure', title: 'Azure', compatibility: 'new' },
  { key: 'kube', title: 'Kubernetes', compatibility: 'new' },
  { key: 'output', title: 'Output', compatibility: 'new' },
];

export const AZURE_FLAGS = {
  cloudconfig: optionalStringFlag({
    group: 'azure',
    placeholder: 'FILE',
    usage: "azure.json as MIC reads it: cloud endpoints and CA, subscription, node resource group and the cluster identity",
    defaultText: 'none: public cloud, subscription from --subscription or AZURE_SUBSCRIPTION_ID',
  }),
  subscription: optionalStringFlag({ group: 'azure', placeholder: 'GUID', usage: 'subscription ID', defaultText: "the cloud config's, else AZURE_SUBSCRIPTION_ID", check: checkGuid }),
  'use-cloudconfig-credential': boolFlag({ group: 'azure', usage: "authenticate with the cloud config's credential (as MIC does) instead of DefaultAzureCredential" }),
  'wait-timeout': durationFlag({ group: 'azure', default: '5m', minMs: 0, usage: 'how long to wait for a new principal to replicate in Entra ID before giving up' }),
} as const satisfies FlagTable;

export const KUBE_FLAGS = {
  kubeconfig: optionalStringFlag({ group: 'kube', placeholder: 'FILE', usage: 'kubeconfig file', defaultText: 'KUBECONFIG, ~/.kube/config, else in-cluster' }),
  context: optionalStringFlag({ group: 'kube', placeholder: 'NAME', usage: 'kubeconfig context', defaultText: 'the current context' }),
} as const satisfies FlagTable;

export function helpText(usageLine: string, description: string, table: FlagTable, examples: readonly string[]): string {
  const groups = COMMON_GROUPS.filter((group) => Object.values(table).some((definition) => definition.group === group.key));
  return `Usage: ${usageLine}\n\n${description}\n\n${renderFlagHelp(table, groups)}\n  -h, --help\n        show this help\n\nExamples:\n${examples.map((example) => `  ${example}`).join('\n')}\n`;
}

/** What {@link AZURE_FLAGS} and {@link KUBE_FLAGS} give a command. */
export interface CommonOptions {
  readonly cloudconfig: string | undefined;
  readonly subscription: string | undefined;
  readonly useCloudconfigCredential: boolean;
  readonly waitTimeoutMs: number;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

export function commonOptions(values: {
  readonly cloudconfig: string | undefined;
  readonly subscription: string | undefined;
  readonly 'use-cloudconfig-credential': boolean;
  readonly 'wait-timeout': number;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}): CommonOptions {
  return {
    cloudconfig: values.cloudconfig,
    subscription: values.subscription,
    useCloudconfigCredential: values['use-cloudconfig-credential'],
    waitTimeoutMs: values['wait-timeout'],
    kubeconfig: values.kubeconfig,
    context: values.context,
  };
}

/** An ARM scope as given, without trailing slashes (`/` stays `/`). */
export function trimScope(scope: string): string {
  return scope.replace(/\/+$/, '') || '/';
}
