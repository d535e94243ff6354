/**
 * pod-identity on real nodes (the test/node tier and `pod-identity sandbox` on a real node): the Azure simulator, a real cluster (src/devenv/node: kubelet +
 * containerd nodes in network namespaces) whose nodes are the simulator's scale-set instances, each
 * with its simulated IMDS at 169.254.169.254 and an azure.json under /etc/kubernetes that sends MIC to
 * the simulated ARM with the node's managed identity (the kubelet identity, through NMI as on AKS), and
 * the project's images (MIC, NMI, client) imported into every node.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SimAdminClient } from '../../sim/client.ts';
import { startAzureSimulator, type AzureSimulator, type ImdsListener } from '../../sim/simulator.ts';
import type { UserAssignedIdentity, VirtualMachineScaleSet } from '../../sim/state/model.ts';
import { repoRoot } from '../binaries.ts';
import { runHelm } from '../kubectl.ts';
import { startCluster, type Cluster, type StartClusterOptions } from './cluster.ts';
import { CLUSTER_GATEWAY } from './layout.ts';

export const SUBSCRIPTION = '00000000-0000-0000-0000-0000000000bb';
export const NODE_GROUP = 'MC_nodes_cluster_westeurope';
export const IDENTITY_GROUP = 'identities';
export const RELEASE = 'pod-identity';
export const RELEASE_NAMESPACE = 'pod-identity';
/** Where the node's files are, as on an AKS node. */
export const AZURE_JSON = '/etc/kubernetes/azure.json';
export const SIM_CA_FILE = '/etc/kubernetes/sim-ca.pem';

export interface ImageRef {
  readonly repository: string;
  readonly name: string;
  readonly tag: string;
  readonly ref: string;
}

/** `localhost/pod-identity-mic:0.1.0` → repository `localhost`, name `pod-identity-mic`, tag `0.1.0`. */
export function parseImageRef(ref: string): ImageRef {
  const m = /^(.+)\/([^/:]+):([^/:]+)$/.exec(ref);
  if (m === null) throw new Error(`image ${ref}: expected <repository>/<name>:<tag>`);
  return { repository: m[1] ?? '', name: m[2] ?? '', tag: m[3] ?? '', ref };
}

export interface WorldImages {
  readonly mic: ImageRef;
  readonly nmi: ImageRef;
  readonly client: ImageRef;
}

/**
 * The three images: the variables .ci/run exports (scripts/build-images.sh prints them) or, with
 * `required: false`, the names that script gives them for this version (`localhost/pod-identity-*:<version>`).
 */
export function worldImages(options: { readonly required: boolean }): WorldImages {
  const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const read = (variable: string, name: string): ImageRef => {
    const value = process.env[variable];
    if (value !== undefined && value !== '') return parseImageRef(value);
    if (options.required) {
      throw new Error(`${variable} is not set: build the images with \`bash scripts/build-images.sh\` (as root) and export the variables it prints (.ci/run does)`);
    }
    return parseImageRef(`localhost/pod-identity-${name}:${version}`);
  };
  return { mic: read('POD_IDENTITY_MIC_IMAGE', 'mic'), nmi: read('POD_IDENTITY_NMI_IMAGE', 'nmi'), client: read('POD_IDENTITY_CLIENT_IMAGE', 'client') };
}

export interface NodeWorld {
  readonly cluster: Cluster;
  readonly sim: AzureSimulator;
  readonly admin: SimAdminClient;
  readonly subscriptionId: string;
  readonly nodeGroup: string;
  readonly scaleSet: VirtualMachineScaleSet;
  readonly nodeNames: readonly string[];
  /** The node's managed identity (on the scale set), which MIC authenticates with through NMI. */
  readonly kubeletIdentity: UserAssignedIdentity;
  readonly images: WorldImages;
  /** ARM and Entra as pods reach them (through the cluster gateway). */
  readonly armUrlInCluster: string;
  readonly entraUrlInCluster: string;
  /** The chart values this world installs with: the images and the simulator's cloud config, nothing else. */
  chartValues(): Record<string, string>;
  kubectl(args: string[], options?: { readonly input?: string; readonly timeoutMs?: number }): Promise<string>;
  /** helm (of the control-plane binaries) as admin; throws with its output on failure. */
  helm(args: readonly string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface StartNodeWorldOptions {
  readonly images: WorldImages;
  readonly nodes?: number;
  /** Where the nodes' scale set lives (default SUBSCRIPTION / NODE_GROUP / aks-nodepool1-12345678-vmss). */
  readonly azure?: { readonly subscriptionId: string; readonly nodeGroup: string; readonly scaleSet: string };
  readonly lroDurationMs?: { vm: number; vmss: number };
  /** The simulator's tenant (default a random GUID): the sandbox uses its examples' tenant. */
  readonly tenantId?: string;
  readonly onStep?: StartClusterOptions['onStep'];
}

export async function startNodeWorld(options: StartNodeWorldOptions): Promise<NodeWorld> {
  const images = options.images;
  if (images.mic.repository !== images.nmi.repository) throw new Error('MIC and NMI images must share a repository (the chart has one image.repository)');
  const sim = await startAzureSimulator({
    advertisedAddresses: [CLUSTER_GATEWAY],
    lroDurationMs: options.lroDurationMs ?? { vm: 500, vmss: 1_000 },
    ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
  });
  const imdsListeners: ImdsListener[] = [];
  let cluster: Cluster | undefined;
  try {
    const admin = new SimAdminClient(sim.adminUrl);
    const { subscriptionId, nodeGroup, scaleSet: scaleSetName } = options.azure ?? { subscriptionId: SUBSCRIPTION, nodeGroup: NODE_GROUP, scaleSet: 'aks-nodepool1-12345678-vmss' };
    await admin.seedResourceGroup({ subscriptionId, resourceGroup: nodeGroup });
    await admin.seedResourceGroup({ subscriptionId, resourceGroup: IDENTITY_GROUP });
    const kubeletIdentity = await admin.seedIdentity({ subscriptionId, resourceGroup: nodeGroup, name: 'nodes-agentpool' });
    const scaleSet = await admin.seedVmss({
      subscriptionId,
      resourceGroup: nodeGroup,
      name: scaleSetName,
      instances: options.nodes ?? 1,
      identities: [kubeletIdentity.id],
    });
    const armPort = Number(new URL(sim.armUrl).port);
    const entraPort = Number(new URL(sim.entraUrl).port);
    const nodes = [];
    for (const instance of scaleSet.instances) {
      const imds = await sim.startImds(instance.computerName);
      imdsListeners.push(imds);
      const url = new URL(imds.url);
      nodes.push({
        name: instance.computerName,
        providerId: `azure:///subscriptions/${subscriptionId}/resourceGroups/${nodeGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet.name}/virtualMachines/${instance.instanceId}`,
        imds: { host: url.hostname, port: Number(url.port) },
      });
    }
    cluster = await startCluster({
      nodes,
      images: [images.mic.ref, images.nmi.ref, images.client.ref],
      ...(options.onStep === undefined ? {} : { onStep: options.onStep }),
      gatewayServices: [
        { listenPort: armPort, target: { host: '127.0.0.1', port: armPort } },
        { listenPort: entraPort, target: { host: '127.0.0.1', port: entraPort } },
      ],
    });
    const armUrlInCluster = `https://${CLUSTER_GATEWAY}:${armPort}`;
    const entraUrlInCluster = `https://${CLUSTER_GATEWAY}:${entraPort}`;
    // The node's azure.json as AKS writes it for a managed-identity cluster, pointed at the simulator.
    const azureJson = {
      cloud: 'AzurePublicCloud',
      tenantId: sim.tenantId,
      subscriptionId,
      resourceGroup: nodeGroup,
      location: 'westeurope',
      vmType: 'vmss',
      useManagedIdentityExtension: true,
      userAssignedIdentityID: kubeletIdentity.clientId,
      resourceManagerEndpoint: armUrlInCluster,
      activeDirectoryEndpoint: entraUrlInCluster,
      caFile: SIM_CA_FILE,
    };
    for (const node of cluster.nodes) {
      await node.host.execOk('sh', ['-c', 'umask 077 && cat > "$0"', AZURE_JSON], { input: `${JSON.stringify(azureJson, null, 2)}\n` });
      await node.host.execOk('sh', ['-c', 'cat > "$0"', SIM_CA_FILE], { input: sim.caPem });
    }
    const running = cluster;
    const kubectl = async (args: string[], o?: { readonly input?: string; readonly timeoutMs?: number }): Promise<string> => {
      const result = await running.kubectl(args, o);
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}):\n${result.stderr}${result.stdout}`);
      return result.stdout;
    };
    return {
      cluster: running,
      sim,
      admin,
      subscriptionId,
      nodeGroup,
      scaleSet,
      nodeNames: nodes.map((node) => node.name),
      kubeletIdentity,
      images,
      armUrlInCluster,
      entraUrlInCluster,
      chartValues: () => ({
        'image.repository': images.mic.repository,
        'mic.image': images.mic.name,
        'mic.tag': images.mic.tag,
        'nmi.image': images.nmi.name,
        'nmi.tag': images.nmi.tag,
        // The images are imported into the nodes, as a private registry's would be pulled.
        'image.imagePullPolicy': 'Never',
        'mic.cloudConfigCAFile': SIM_CA_FILE,
      }),
      kubectl,
      async helm(args, timeoutMs = 300_000) {
        const result = await runHelm(running.plane, args, { timeoutMs });
        if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}):\n${result.stderr}${result.stdout}`);
        return result.stdout;
      },
      async stop() {
        await running.stop().finally(async () => {
          await Promise.all(imdsListeners.map((listener) => listener.close()));
          await sim.stop();
        });
      },
    };
  } catch (error) {
    await cluster?.stop().catch(() => undefined);
    await Promise.all(imdsListeners.map((listener) => listener.close()));
    await sim.stop();
    throw error;
  }
}

