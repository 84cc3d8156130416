/**
 * An image's filesystem as `docker export` gives it: a container is
 * created (never started), its filesystem streamed into the tree, and the
 * container removed on every path, so nothing but the image is left.
 */
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { Tree } from '../tree/tree.js';

export async function exportImageInto(docker: Docker, image: string, tree: Tree, layer = 'container'): Promise<void> {
  const container = await docker.createContainer({ Image: image, NetworkDisabled: true, Labels: { 'org.ramforge.export': '1' } });
  try {
    const stream = await container.export();
    await tree.mergeTar(Readable.from(stream as AsyncIterable<Buffer>, { objectMode: false }), { layer });
  } finally {
    await container.remove({ force: true, v: true });
  }
}
