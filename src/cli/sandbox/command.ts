/**
 * `pod-identity sandbox`: the whole system on this machine — a real kube-apiserver + etcd, the Azure
 * simulator, MIC, a node with NMI and two pods — with the example manifests applied; shows one pod
 * getting a token for its identity and the other refused, then stays up (Ctrl-C stops and removes
 * everything) or, with `--once`, exits. See docs/sandbox.md.
 * @module
 */
import { boolFlag, type FlagTable } from '../../lib/go-flags.ts';
import { EXIT_OK, EXIT_USAGE, UsageError, type Command, type CommandIo } from '../command.ts';
import { parseCommandFlags, throwUsageProblems } from '../shared/flags.ts';
import { realNodeUnavailable, runRealNodeSandbox, sandboxImages } from './real-node.ts';
import { runSandbox } from './run.ts';

export const SANDBOX_HELP = `Usage: pod-identity sandbox [options]

Runs the whole system on this machine: a real kube-apiserver + etcd, the Azure simulator, MIC, and a
node with NMI and two pods. Applies examples/sandbox/*.yaml (an AzureIdentity, a binding and two pods),
shows demo/demo-allowed getting a token for demo-identity and demo/demo-denied being refused, prints a
kubeconfig and commands to poke at it, and stays up until Ctrl-C (SIGINT/SIGTERM), which stops and
removes everything it started. It also shows a federated identity (type 3,
examples/sandbox/federated.yaml): a third pod, demo/demo-federated, gets a token for demo-federated,
which NMI obtained from Entra ID with its service-account token, with no ARM write for it.

As root, on a machine with what a node needs (cgroup v1, containerd, runc, the CNI plugins, podman,
the node binaries of scripts/build-node-binaries.sh and the images of scripts/build-images.sh), it
runs a real node — kubelet + containerd in a network namespace — installs charts/pod-identity with
helm, and the pods are containers of the client image. Otherwise (or with --namespaces) the pods are
network namespaces joined to a node namespace where NMI runs with its real iptables rules, and the
first line says why; nothing is changed in the root namespace either way. Without root (or with
--rootless) NMI runs on 127.0.0.1 without iptables and the pods are 127.x addresses.

Needs kube-apiserver, etcd, kubectl and helm: KUBEBUILDER_ASSETS, else the cache of
scripts/build-test-binaries.sh, else it builds them (Go >= 1.26; ~20 min the first time).

Options:
  --once        run the demo, stop everything and exit (0 when the demo worked)
  --json        print one JSON summary line on stdout (progress goes to stderr)
  --namespaces  pods as bare network namespaces and MIC/NMI as processes, even where a real node can run
  --rootless    no network namespaces or iptables even as root
  --keep-dir    keep the sandbox dir (logs, azure.json, kubeconfig) after stopping
  -h, --help    show this help

Exit codes: 0 the demo worked (and, without --once, the sandbox was stopped cleanly); 1 a step failed
(everything started is stopped; the message names the step); 2 bad arguments.
`;

const group = 'sandbox';
const FLAGS = {
  once: boolFlag({ group, usage: 'run the demo, stop everything and exit' }),
  json: boolFlag({ group, usage: 'one JSON summary line on stdout' }),
  namespaces: boolFlag({ group, usage: 'pods as bare network namespaces even where a real node can run' }),
  rootless: boolFlag({ group, usage: 'no network namespaces or iptables even as root' }),
  'keep-dir': boolFlag({ group, usage: 'keep the sandbox dir after stopping' }),
} as const satisfies FlagTable;

/** Parsed command line. */
export interface SandboxArgs {
  readonly help: boolean;
  readonly once: boolean;
  readonly json: boolean;
  readonly namespaces: boolean;
  readonly rootless: boolean;
  readonly keepDir: boolean;
}

/** Parses arguments; throws {@link UsageError} listing every problem (help or not). */
export function parseSandboxArgs(argv: readonly string[]): SandboxArgs {
  const { values, helpRequested, problems } = parseCommandFlags(FLAGS, argv);
  throwUsageProblems(problems);
  return { help: helpRequested, once: values.once, json: values.json, namespaces: values.namespaces, rootless: values.rootless, keepDir: values['keep-dir'] };
}

async function run(argv: readonly string[], io: CommandIo): Promise<number> {
  let args: SandboxArgs;
  try {
    args = parseSandboxArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`pod-identity sandbox: ${error.message}\n\n${SANDBOX_HELP}`);
    return EXIT_USAGE;
  }
  if (args.help) {
    io.stdout.write(SANDBOX_HELP);
    return EXIT_OK;
  }
  const root = process.getuid?.() === 0;
  const rootless = args.rootless || !root;
  const common = { once: args.once, json: args.json, keepDir: args.keepDir };
  if (rootless) return runSandbox({ mode: 'rootless', ...(args.rootless ? {} : { rootlessReason: 'not root' }), ...common }, io);
  if (args.namespaces) return runSandbox({ mode: 'netns', ...common }, io);
  const images = sandboxImages();
  const reason = await realNodeUnavailable(images);
  if (reason === undefined) return runRealNodeSandbox({ mode: 'netns', ...common }, images, io);
  return runSandbox({ mode: 'netns', namespacesReason: reason, ...common }, io);
}

export const sandboxCommand: Command = {
  summary: 'run the whole system on this machine (control plane, Azure simulator, MIC, NMI, two pods) and show a token',
  run,
};
