/**
 * The one coreos build the coreos test files share (through sharedBuild:
 * built once per source state, the Dockerfile and cloud-config/ counted as
 * inputs): the top-level Dockerfile built by a real, private Docker engine
 * (test/support/dockerd.ts, started only when the build is not cached and
 * stopped right after it; never a system daemon), the test SSH key, a
 * serial console, and an ISO (the BIOS and UEFI boots of coreos-boot).
 * gzip instead of the default zstd -19: the members are ~300 MB and these
 * tests are about the flavor, not the compressor.
 *
 * What the engine held once the build was done (its containers, which must
 * be none) is kept beside the build, so a test can check it on a cached
 * build too.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startDockerd } from './dockerd.js';
import { sharedBuild, testSshKey, type SharedBuild } from './shared-build.js';

export const COREOS_TEST_SPEC = {
  flavor: 'coreos',
  name: 'coreos-test',
  cmdline: 'console=ttyS0,115200',
  compression: 'gzip',
  ssh: { authorizedKeys: [testSshKey().publicKey] },
};

export interface CoreosBuild extends SharedBuild {
  /** The engine's container list (GET /containers/json?all=1) right after the build. */
  engineContainers: unknown[];
}

const CONTAINERS_FILE = 'engine-containers.json';

/** Run `fn` with DOCKER_HOST naming a fresh private engine (its socket given), stopped and removed afterwards. */
export async function withPrivateEngine<T>(fn: (socket: string) => Promise<T>): Promise<T> {
  const engine = await startDockerd();
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = engine.host;
  try {
    return await fn(engine.socket);
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
    await engine.stop();
  }
}

export async function coreosSharedBuild(overrides: Record<string, unknown> = COREOS_TEST_SPEC): Promise<CoreosBuild> {
  const b = await sharedBuild(overrides, {
    inputs: ['Dockerfile', 'cloud-config'],
    around: (run, root) =>
      withPrivateEngine(async (socket) => {
        await run();
        const containers = execFileSync('curl', ['-s', '--unix-socket', socket, 'http://x/containers/json?all=1'], { encoding: 'utf8' });
        mkdirSync(root, { recursive: true });
        writeFileSync(join(root, CONTAINERS_FILE), containers);
      }),
  });
  // b.dir is <root>/output/<name>.
  const root = dirname(dirname(b.dir));
  return { ...b, engineContainers: JSON.parse(readFileSync(join(root, CONTAINERS_FILE), 'utf8')) as unknown[] };
}
