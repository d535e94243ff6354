/**
 * `identity create` flags and their checked meaning ({@link CreateOptions}); every problem is
 * reported at once as one usage error (../shared/flags.ts).
 * @module
 */
import { boolFlag, enumFlag, optionalStringFlag, stringFlag, type FlagTable } from '../../lib/go-flags.ts';
import { checkGuid, checkResourceGroup, checkScope } from '../azure/resource-ids.ts';
import { AZURE_FLAGS, commonOptions, helpText, KUBE_FLAGS, trimScope, type CommonOptions } from '../shared/common-flags.ts';
import { parseCommandFlags, throwUsageProblems } from '../shared/flags.ts';
import { checkCredentialName, DEFAULT_NMI_NAMESPACE, DEFAULT_NMI_SERVICE_ACCOUNT, serviceAccountSubject } from '../federation/credential.ts';
import { checkIssuerUrl } from '../federation/issuer.ts';
import type { ManifestFormat } from './manifests.ts';
import { checkIdentityName, checkKubeName, checkLabelValue, checkNamespaceName, checkServiceAccountName, kubeNameFor } from './names.ts';

export const CREATE_FLAGS = {
  name: optionalStringFlag({ group: 'what', placeholder: 'NAME', usage: 'name of the user-assigned identity', defaultText: 'none; required', check: checkIdentityName }),
  'resource-group': optionalStringFlag({ group: 'what', placeholder: 'GROUP', usage: 'resource group of the identity', defaultText: 'none; required', check: checkResourceGroup }),
  location: optionalStringFlag({ group: 'what', placeholder: 'REGION', usage: 'region of a new identity', defaultText: "the cloud config's location (required otherwise when the identity is new)" }),
  role: optionalStringFlag({ group: 'what', placeholder: 'ROLE', usage: "role to give the identity: a role name (\"Storage Blob Data Reader\"), GUID or role definition ID; needs --scope", defaultText: 'none' }),
  scope: optionalStringFlag({ group: 'what', placeholder: 'SCOPE', usage: 'ARM scope of --role (subscription, resource group or resource ID)', defaultText: 'none', check: checkScope }),
  namespace: stringFlag({ group: 'what', placeholder: 'NAMESPACE', default: 'default', usage: 'namespace of the AzureIdentity and AzureIdentityBinding', check: checkKubeName }),
  selector: optionalStringFlag({ group: 'what', placeholder: 'LABEL', usage: 'the binding selector: pods labelled aadpodidbinding=<LABEL> get the identity', defaultText: 'the Kubernetes name', check: checkLabelValue }),
  'k8s-name': optionalStringFlag({ group: 'what', placeholder: 'NAME', usage: 'name of the AzureIdentity (the binding is <NAME>-binding)', defaultText: '--name lower-cased, _ as -', check: checkKubeName }),
  'cluster-principal-id': optionalStringFlag({ group: 'what', placeholder: 'GUID', usage: 'object ID of the cluster identity to grant Managed Identity Operator on the identity', defaultText: 'from --cloudconfig', check: checkGuid }),
  'skip-operator-grant': boolFlag({ group: 'what', usage: 'do not grant the cluster identity Managed Identity Operator on the identity (you manage that yourself)' }),
  apply: boolFlag({ group: 'what', usage: 'server-side apply the AzureIdentity and AzureIdentityBinding instead of printing them' }),
  federated: boolFlag({
    group: 'federated',
    usage: "a federated identity (AzureIdentity type 3): add a federated identity credential trusting NMI's service-account token from the cluster's issuer, instead of granting the cluster identity Managed Identity Operator",
  }),
  issuer: optionalStringFlag({ group: 'federated', placeholder: 'URL', usage: "the cluster's service-account issuer (https; AKS: its OIDC issuer URL)", defaultText: "the API server's /.well-known/openid-configuration", check: checkIssuerUrl }),
  'nmi-namespace': stringFlag({ group: 'federated', placeholder: 'NAMESPACE', default: DEFAULT_NMI_NAMESPACE, usage: 'namespace NMI runs in (the subject is system:serviceaccount:<NAMESPACE>:<SERVICE ACCOUNT>)', check: checkNamespaceName }),
  'nmi-service-account': stringFlag({ group: 'federated', placeholder: 'NAME', default: DEFAULT_NMI_SERVICE_ACCOUNT, usage: "NMI's ServiceAccount (the chart's <release>-nmi)", check: checkServiceAccountName }),
  'federated-credential-name': optionalStringFlag({ group: 'federated', placeholder: 'NAME', usage: 'name of the federated identity credential', defaultText: 'pod-identity-<hash of issuer and subject>', check: checkCredentialName }),
  ...AZURE_FLAGS,
  ...KUBE_FLAGS,
  output: enumFlag({ group: 'output', default: 'yaml', values: ['yaml', 'json'], usage: 'format of the printed objects' }),
} as const satisfies FlagTable;

export const CREATE_HELP = helpText(
  'pod-identity identity create --name NAME --resource-group GROUP [--role ROLE --scope SCOPE] [--namespace NS] [--selector LABEL] [--federated] [--apply] [options]',
  [
    'Creates a user-assigned managed identity (or reuses it), assigns it --role at --scope, grants the',
    'cluster identity "Managed Identity Operator" on it so MIC can assign it to nodes, and prints the',
    'AzureIdentity and AzureIdentityBinding (or applies them with --apply). Running it again changes',
    'nothing that is already in place. Progress goes to stderr; stdout holds only the objects.',
    '',
    'With --federated the identity is never assigned to nodes: instead it gets a federated identity',
    "credential trusting NMI's service-account token (issuer: the cluster's, subject:",
    'system:serviceaccount:<--nmi-namespace>:<--nmi-service-account>, audience api://AzureADTokenExchange),',
    'no Managed Identity Operator grant is made, and the AzureIdentity has type 3 with the tenant ID.',
  ].join('\n'),
  CREATE_FLAGS,
  [
    'pod-identity identity create --name app-id --resource-group identities --cloudconfig /etc/kubernetes/azure.json \\',
    '    --role "Storage Blob Data Reader" --scope /subscriptions/<sub>/resourceGroups/data --namespace app --selector app | kubectl apply -f -',
    'pod-identity identity create --name app-id --resource-group identities --location westeurope --subscription <sub> --cluster-principal-id <oid> --apply',
    'pod-identity identity create --name app-id --resource-group identities --location westeurope --subscription <sub> --federated --namespace app --apply',
  ],
);

export interface CreateOptions extends CommonOptions {
  readonly name: string;
  readonly resourceGroup: string;
  readonly location: string | undefined;
  readonly role: { readonly text: string; readonly scope: string } | undefined;
  readonly namespace: string;
  readonly selector: string;
  readonly kubeName: string;
  readonly clusterPrincipalId: string | undefined;
  readonly skipOperatorGrant: boolean;
  readonly apply: boolean;
  /** `--federated`: what the identity's federated identity credential must trust; undefined otherwise. */
  readonly federated: FederatedOptions | undefined;
  readonly output: ManifestFormat;
}

export interface FederatedOptions {
  /** `--issuer`; undefined: read it from the API server. */
  readonly issuer: string | undefined;
  /** NMI's token subject, `system:serviceaccount:<nmi namespace>:<nmi service account>`. */
  readonly subject: string;
  /** `--federated-credential-name`; undefined: derived from issuer and subject. */
  readonly credentialName: string | undefined;
}

/** `undefined` when help was asked for. */
export function parseCreateArgs(argv: readonly string[]): CreateOptions | undefined {
  const parsed = parseCommandFlags(CREATE_FLAGS, argv);
  if (parsed.helpRequested) return undefined;
  const { values, problems } = parsed;
  if (values.name === undefined && !parsed.given.has('name')) problems.push('--name is required');
  if (values['resource-group'] === undefined && !parsed.given.has('resource-group')) problems.push('--resource-group is required');
  if (values.role !== undefined && values.scope === undefined && !parsed.given.has('scope')) problems.push('--role needs --scope (where the identity gets the role)');
  if (values.scope !== undefined && values.role === undefined) problems.push('--scope needs --role');
  if (values['skip-operator-grant'] && values['cluster-principal-id'] !== undefined) problems.push('--skip-operator-grant and --cluster-principal-id contradict each other');
  if (values.federated && values['cluster-principal-id'] !== undefined) problems.push('--federated identities are never assigned to nodes, so the cluster identity needs no grant: drop --cluster-principal-id');
  if (!values.federated) {
    for (const flag of ['issuer', 'nmi-namespace', 'nmi-service-account', 'federated-credential-name'] as const) if (parsed.given.has(flag)) problems.push(`--${flag} needs --federated`);
  }
  const name = values.name ?? '';
  const derived = values['k8s-name'] ?? kubeNameFor(name);
  if (values['k8s-name'] === undefined && name !== '' && checkKubeName(derived) !== undefined) {
    problems.push(`--name ${JSON.stringify(name)} does not make a Kubernetes name (${JSON.stringify(derived)}): give --k8s-name`);
  }
  throwUsageProblems(problems, '\n  ');
  return {
    name,
    resourceGroup: values['resource-group'] ?? '',
    location: values.location,
    role: values.role === undefined || values.scope === undefined ? undefined : { text: values.role, scope: trimScope(values.scope) },
    namespace: values.namespace,
    selector: values.selector ?? derived,
    kubeName: derived,
    clusterPrincipalId: values['cluster-principal-id'],
    skipOperatorGrant: values['skip-operator-grant'],
    apply: values.apply,
    federated: values.federated
      ? { issuer: values.issuer, subject: serviceAccountSubject(values['nmi-namespace'], values['nmi-service-account']), credentialName: values['federated-credential-name'] }
      : undefined,
    ...commonOptions(values),
    output: values.output,
  };
}
