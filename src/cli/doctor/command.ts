/**
 * `pod-identity doctor <pod> [-n namespace]`: walks the chain from a pod's label to NMI on its node,
 * says what holds and the first thing that does not, with the fix. Exit codes: 0 the pod should get a
 * token, 1 a failure was found, 2 the diagnosis could not be made (bad arguments, unknown pod or
 * context, unreadable azure.json, no access to the API server).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { CloudConfigError, readCloudConfigFile } from '../../azure/cloud-config.ts';
import { CloudResolutionError } from '../../azure/clouds.ts';
import { KubeApiError } from '../../kube/raw-client.ts';
import { boolFlag, enumFlag, intFlag, optionalStringFlag, stringFlag } from '../../lib/go-flags.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command, type CommandIo } from '../command.ts';
import { checkIssuerUrl } from '../federation/issuer.ts';
import { cliKubeAccess } from '../kube-access.ts';
import { parseCommandFlags, throwUsageProblems } from '../shared/flags.ts';
import { createAzureReader, type AzureReader } from './azure.ts';
import { diagnose } from './diagnose.ts';
import { diagnoseMigration, renderMigrationText } from './migration.ts';
import { gatherMigration } from './migration-gather.ts';
import { gather } from './gather.ts';
import { renderJson, renderText } from './render.ts';

export const DOCTOR_HELP = `Usage: pod-identity doctor <pod> [-n NAMESPACE] [options]
       pod-identity doctor --migration [-o text|json] [--kubeconfig FILE] [--context NAME]

Walks the chain that gives a pod its Azure identity and says, step by step, what is right and the
first thing that is wrong, with the fix: the aadpodidbinding label; AzureIdentityBindings whose
selector matches; the AzureIdentity in the binding's namespace; namespaced rules; exceptions; the
AzureAssignedIdentity and its state; node → VM / VMSS; (with Azure credentials) the identity on that
VM / VMSS and the cluster identity's Managed Identity Operator role; for a federated identity
(type 3) the cluster's service-account issuer (its discovery document and JWKS, fetched anonymously)
and the identity's federated identity credential; NMI on the node; recent Events.

Options:
  -n, --namespace NS          the pod's namespace (default: the context's namespace, else "default")
  -o, --output text|json      output format (default text)
      --kubeconfig FILE       kubeconfig (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)
      --context NAME          kubeconfig context (default: the current context)
      --cloudconfig FILE      azure.json as MIC reads it: its cloud, CA and (service principal) credential
                              are used for ARM, and it names the cluster identity for the role check
                              (default: DefaultAzureCredential against the public cloud)
      --cluster-principal-id GUID
                              object ID of the identity MIC calls ARM with (default: from --cloudconfig)
      --namespaced[=false]    MIC runs with --forceNamespaced (default: read from MIC's Deployment)
      --skip-azure            do not call ARM (the VM / VMSS, role and federated credential steps are skipped)
      --issuer URL            the cluster's service-account issuer, for federated identities
                              (default: from the API server's /.well-known/openid-configuration)
      --issuer-ca-file FILE   PEM CA certificates trusted besides the public roots when fetching the
                              issuer's discovery document and JWKS (a self-hosted issuer's private CA)
      --events N              how many recent Events to show (default 5)
      --migration             instead of a pod: where the switch from aad-pod-identity stands, what
                              would break it, and the next step (docs/migration.md)
  -h, --help                  show this help

Exit codes: 0 the pod should get a token; 1 a failure was found; 2 the diagnosis could not be made
(bad arguments, unknown pod, unreadable azure.json, no access to the API server).
`;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

const group = 'doctor';
const FLAGS = {
  n: optionalStringFlag({ group, usage: 'namespace', defaultText: 'context namespace' }),
  namespace: optionalStringFlag({ group, usage: 'namespace', defaultText: 'context namespace' }),
  o: enumFlag({ group, usage: 'output', default: 'text', values: ['text', 'json'] }),
  output: enumFlag({ group, usage: 'output', default: 'text', values: ['text', 'json'] }),
  kubeconfig: stringFlag({ group, usage: 'kubeconfig' }),
  context: stringFlag({ group, usage: 'context' }),
  cloudconfig: stringFlag({ group, usage: 'azure.json' }),
  'cluster-principal-id': optionalStringFlag({ group, usage: 'principal', defaultText: 'from azure.json', check: (text) => (GUID.test(text) ? undefined : 'an object ID (GUID)') }),
  namespaced: boolFlag({ group, usage: 'namespaced' }),
  'skip-azure': boolFlag({ group, usage: 'skip ARM' }),
  issuer: optionalStringFlag({ group, usage: 'issuer', defaultText: 'from the API server', check: checkIssuerUrl }),
  'issuer-ca-file': optionalStringFlag({ group, usage: 'issuer CA', defaultText: 'none' }),
  events: intFlag({ group, usage: 'events', default: 5, min: 0, max: 100 }),
  migration: boolFlag({ group, usage: 'migration' }),
} as const;

/** Parsed command line. */
export interface DoctorArgs {
  readonly help: boolean;
  readonly podName: string;
  readonly namespace: string | undefined;
  readonly output: 'text' | 'json';
  readonly kubeconfig: string;
  readonly context: string;
  readonly cloudconfig: string;
  readonly clusterPrincipalId: string | undefined;
  readonly namespaced: boolean | undefined;
  readonly skipAzure: boolean;
  /** `--issuer`. */
  readonly issuer: string | undefined;
  /** `--issuer-ca-file`. */
  readonly issuerCaFile: string | undefined;
  readonly events: number;
  /** `--migration`: the cluster's switch from aad-pod-identity, not a pod. */
  readonly migration: boolean;
}

/** Parses arguments; throws {@link UsageError} listing every problem. */
export function parseDoctorArgs(argv: readonly string[]): DoctorArgs {
  const parsed = parseCommandFlags(FLAGS, argv, { positionals: true });
  const { values, given, problems } = parsed;
  const help = parsed.helpRequested;
  const [rawPod, ...extra] = parsed.positionals;
  const podName = rawPod?.replace(/^pods?\//, '') ?? '';
  if (!help && values.migration) {
    if (rawPod !== undefined) problems.push(`--migration looks at the whole cluster, not at a pod (drop ${JSON.stringify(rawPod)})`);
  } else if (!help) {
    if (rawPod === undefined) problems.push('which pod? give its name: pod-identity doctor <pod> [-n namespace] (or --migration)');
    else if (!NAME.test(podName) || podName.length > 253) problems.push(`${JSON.stringify(rawPod)} is not a pod name`);
    if (extra.length > 0) problems.push(`one pod at a time (extra arguments: ${extra.join(' ')})`);
  }
  const namespace = given.has('n') ? values.n : values.namespace;
  if (namespace !== undefined && (!NAME.test(namespace) || namespace.length > 63)) problems.push(`--namespace ${JSON.stringify(namespace)} is not a namespace name`);
  throwUsageProblems(problems, '; ');
  return {
    help,
    podName,
    namespace,
    output: given.has('o') ? values.o : values.output,
    kubeconfig: values.kubeconfig,
    context: values.context,
    cloudconfig: values.cloudconfig,
    clusterPrincipalId: values['cluster-principal-id'],
    namespaced: given.has('namespaced') ? values.namespaced : undefined,
    skipAzure: values['skip-azure'],
    issuer: values.issuer,
    issuerCaFile: values['issuer-ca-file'],
    events: values.events,
    migration: values.migration,
  };
}

function loadKubeConfig(args: DoctorArgs): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (args.kubeconfig !== '') kubeConfig.loadFromFile(args.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new UsageError(`cannot load kubeconfig ${args.kubeconfig === '' ? '(default)' : args.kubeconfig}: ${(error as Error).message}`, { cause: error });
  }
  if (args.context !== '') {
    if (kubeConfig.getContextObject(args.context) === null) {
      throw new UsageError(`kubeconfig has no context ${JSON.stringify(args.context)} (it has: ${kubeConfig.getContexts().map((context) => context.name).join(', ') || 'none'})`);
    }
    kubeConfig.setCurrentContext(args.context);
  }
  if (kubeConfig.getCurrentCluster() === null) throw new UsageError('kubeconfig has no current cluster (use --kubeconfig / --context)');
  return kubeConfig;
}

async function azureReader(args: DoctorArgs): Promise<AzureReader | undefined> {
  if (args.skipAzure) return undefined;
  try {
    const config = args.cloudconfig === '' ? undefined : await readCloudConfigFile(args.cloudconfig);
    return await createAzureReader({ config, clusterPrincipalId: args.clusterPrincipalId, env: process.env });
  } catch (error) {
    if (error instanceof CloudConfigError || error instanceof CloudResolutionError) throw new UsageError(error.message, { cause: error });
    throw error;
  }
}

async function readIssuerCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--issuer-ca-file: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function run(argv: readonly string[], io: CommandIo): Promise<number> {
  let args: DoctorArgs;
  try {
    args = parseDoctorArgs(argv);
    if (args.help) {
      io.stdout.write(DOCTOR_HELP);
      return EXIT_OK;
    }
    const kubeConfig = loadKubeConfig(args);
    const kube = cliKubeAccess(kubeConfig);
    if (args.migration) {
      const migration = diagnoseMigration(await gatherMigration(kube));
      io.stdout.write(args.output === 'json' ? `${JSON.stringify(migration, null, 2)}\n` : renderMigrationText(migration));
      return migration.healthy ? EXIT_OK : EXIT_FAILURE;
    }
    const namespace = args.namespace ?? (kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace || 'default');
    const azure = await azureReader(args);
    const issuerCaPem = await readIssuerCa(args.issuerCaFile);
    const snapshot = await gather(kube, { namespace, podName: args.podName, namespaced: args.namespaced, azure, issuer: args.issuer, issuerCaPem, signal: io.shutdown });
    const report = diagnose(snapshot, { maxEvents: args.events });
    io.stdout.write(args.output === 'json' ? renderJson(report) : renderText(report));
    return report.healthy ? EXIT_OK : EXIT_FAILURE;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`pod-identity doctor: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof KubeApiError) {
      const hint =
        error.statusCode === 401 || error.statusCode === 403
          ? ' (doctor needs get/list on pods, nodes, events, deployments and the aadpodidentity.k8s.io resources)'
          : '';
      io.stderr.write(`pod-identity doctor: cannot read from the API server: ${error.message}${hint}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof TypeError && /fetch failed/.test(error.message)) {
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
      io.stderr.write(`pod-identity doctor: cannot reach the API server${cause}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

export const doctorCommand: Command = {
  summary: 'diagnose why a pod does (not) get its Azure identity, step by step',
  run,
};
