/** The real-node world for test/node (src/devenv/node/world.ts), with the images CI exports required. */
import { startNodeWorld as start, worldImages, type NodeWorld } from '../../src/devenv/node/world.ts';

export { IDENTITY_GROUP, NODE_GROUP, RELEASE, RELEASE_NAMESPACE, SIM_CA_FILE, SUBSCRIPTION, type NodeWorld } from '../../src/devenv/node/world.ts';

/** Fails (never skips) when an image variable is missing, naming the script that builds them. */
export function startNodeWorld(options: { readonly nodes: number }): Promise<NodeWorld> {
  return start({ images: worldImages({ required: true }), nodes: options.nodes });
}
