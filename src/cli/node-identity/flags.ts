/**
 * `node-identity enable` flags and their checked meaning.
 * @module
 */
import { durationFlag, enumFlag, optionalStringFlag, type FlagTable } from '../../lib/go-flags.ts';
import { checkResourceGroup, checkScope } from '../azure/resource-ids.ts';
import { AZURE_FLAGS, commonOptions, helpText, KUBE_FLAGS, trimScope, type CommonOptions } from '../shared/common-flags.ts';
import { parseCommandFlags, throwUsageProblems } from '../shared/flags.ts';

export const ENABLE_FLAGS = {
  role: optionalStringFlag({ group: 'what', placeholder: 'ROLE', usage: 'role to give every node identity: a role name, GUID or role definition ID', defaultText: 'none; required' }),
  scope: optionalStringFlag({ group: 'what', placeholder: 'SCOPE', usage: 'ARM scope of the role', defaultText: 'the node resource group', check: checkScope }),
  'node-resource-group': optionalStringFlag({
    group: 'what',
    placeholder: 'GROUP',
    usage: 'resource group of the VMs / scale sets',
    defaultText: "the cloud config's resourceGroup, else the groups in the nodes' providerIDs",
    check: checkResourceGroup,
  }),
  'poll-interval': durationFlag({ group: 'azure', default: '5s', minMs: 10, usage: 'how often to poll a VM / scale set update' }),
  ...AZURE_FLAGS,
  ...KUBE_FLAGS,
  output: enumFlag({ group: 'output', default: 'table', values: ['table', 'json'], usage: 'format of the summary on stdout' }),
} as const satisfies FlagTable;

export const ENABLE_HELP = helpText(
  'pod-identity node-identity enable --role ROLE [--scope SCOPE] [options]',
  [
    'For clusters whose nodes use their own identity: enables the system-assigned identity on every VM and',
    'VM scale set of the node resource group (keeping their user-assigned identities) and assigns ROLE at',
    'SCOPE to each of those principals. Running it again changes nothing that is already in place. Prints',
    'a summary table (or JSON) on stdout; progress goes to stderr. Exit 1 if any resource failed.',
  ].join('\n'),
  ENABLE_FLAGS,
  [
    'pod-identity node-identity enable --cloudconfig /etc/kubernetes/azure.json --role "Storage Blob Data Reader" \\',
    '    --scope /subscriptions/<sub>/resourceGroups/data',
    'pod-identity node-identity enable --subscription <sub> --node-resource-group MC_rg_cluster_westeurope --role Reader',
  ],
);

export interface EnableOptions extends CommonOptions {
  readonly role: string;
  readonly scope: string | undefined;
  readonly nodeResourceGroup: string | undefined;
  readonly pollIntervalMs: number;
  readonly output: 'table' | 'json';
}

export function parseEnableArgs(argv: readonly string[]): EnableOptions | undefined {
  const parsed = parseCommandFlags(ENABLE_FLAGS, argv);
  if (parsed.helpRequested) return undefined;
  const { values, problems } = parsed;
  if (values.role === undefined && !parsed.given.has('role')) problems.push('--role is required');
  throwUsageProblems(problems, '\n  ');
  return {
    role: values.role ?? '',
    scope: values.scope === undefined ? undefined : trimScope(values.scope),
    nodeResourceGroup: values['node-resource-group'],
    pollIntervalMs: values['poll-interval'],
    ...commonOptions(values),
    output: values.output,
  };
}
