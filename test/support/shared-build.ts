/**
 * One tinyipa build shared by every test file (and every test run, as long
 * as the sources did not change): keyed by a hash of the builder and agent
 * sources, the lock file and the spec, guarded by a lock directory because
 * node --test runs files in separate processes.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from '../../builder/src/index.js';
import { REPO_ROOT } from '../../builder/src/agent-bundle.js';

export interface SharedBuild {
  dir: string;
  kernel: string;
  initramfs: string;
  iso: string;
  manifest: Record<string, any>;
}

/**
 * The SSH key the shared build authorizes, made once per checkout and kept
 * in .cache/ (a new key would change the spec, hence rebuild). ECDSA P-256,
 * made with node:crypto so no tool is needed to make it: the private key as
 * a PEM file `ssh -i` reads, the public key as an authorized_keys line.
 */
export function testSshKey(): { privateKeyFile: string; publicKey: string } {
  const dir = join(REPO_ROOT, '.cache', 'test-ssh');
  const priv = join(dir, 'id_ecdsa');
  const pub = `${priv}.pub`;
  if (!existsSync(pub)) {
    mkdirSync(dir, { recursive: true });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const str = (b: Buffer) => {
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      return Buffer.concat([n, b]);
    };
    const blob = Buffer.concat([str(Buffer.from('ecdsa-sha2-nistp256')), str(Buffer.from('nistp256')), str(point)]);
    writeFileSync(priv, privateKey.export({ format: 'pem', type: 'sec1' }), { mode: 0o600 });
    writeFileSync(pub, `ecdsa-sha2-nistp256 ${blob.toString('base64')} ramforge-test\n`);
  }
  return { privateKeyFile: priv, publicKey: readFileSync(pub, 'utf8').trim() };
}

/** The spec the boot tests use: the default tinyipa, a serial console for logs, and an SSH key to log in with. */
export const TEST_SPEC = {
  name: 'tinyipa',
  cmdline: 'console=ttyS0,115200',
  ssh: { authorizedKeys: [testSshKey().publicKey] },
};

/** The same without SSH keys, as most sites build it (rescue on by default, so dropbear is there for the rescue user only), no ISO. */
export const NO_KEY_SPEC = { ...TEST_SPEC, ssh: { authorizedKeys: [] }, iso: false };

function sourceKey(extra: unknown, inputs: string[]): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name === 'test' || e.name === 'fixtures') continue;
        walk(p);
      } else if (e.isFile() && !e.name.endsWith('.test.ts') && !e.name.endsWith('.md')) {
        h.update(p.slice(REPO_ROOT.length)).update('\0').update(readFileSync(p));
      }
    }
  };
  walk(join(REPO_ROOT, 'builder', 'src'));
  walk(join(REPO_ROOT, 'agent', 'src'));
  // The dib flavor's shipped elements and the test's site element are build inputs too.
  walk(join(REPO_ROOT, 'elements'));
  walk(join(REPO_ROOT, 'test', 'fixtures', 'dib-elements'));
  walk(join(REPO_ROOT, 'test', 'fixtures', 'dib-hardware-managers'));
  for (const i of inputs) {
    const p = join(REPO_ROOT, i);
    if (statSync(p).isDirectory()) walk(p);
    else h.update(i).update('\0').update(readFileSync(p));
  }
  h.update(readFileSync(join(REPO_ROOT, 'package-lock.json')));
  h.update(JSON.stringify(extra));
  return h.digest('hex').slice(0, 16);
}

export interface SharedBuildOptions {
  /** More build inputs outside builder/src, agent/src and elements/ (paths relative to the repository), e.g. the coreos Dockerfile. */
  inputs?: string[];
  /** Runs the build (only when it is not cached), e.g. with a private Docker engine up around it; `root` holds the cached build. */
  around?: (build: () => Promise<void>, root: string) => Promise<void>;
}

export async function sharedBuild(overrides: Record<string, unknown> = TEST_SPEC, o: SharedBuildOptions = {}): Promise<SharedBuild> {
  const key = sourceKey(overrides, o.inputs ?? []);
  const root = join(REPO_ROOT, '.cache', 'test-builds', key);
  const out = join(root, 'output', String(overrides.name ?? 'tinyipa'));
  const done = join(root, 'done');
  const lock = join(REPO_ROOT, '.cache', 'test-builds', `${key}.lock`);
  mkdirSync(join(REPO_ROOT, '.cache', 'test-builds'), { recursive: true });
  for (;;) {
    if (existsSync(done)) return load(out);
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another test process is building; a lock older than 30 minutes is stale.
      if (Date.now() - statSync(lock).mtimeMs > 30 * 60_000) rmSync(lock, { recursive: true, force: true });
      await sleep(2000);
    }
  }
  try {
    if (!existsSync(done)) {
      const run = async () => {
        await build({
          cwd: root,
          overrides,
          output: join(root, 'output'),
          installHostTools: true,
          renderer: 'silent',
          log: (l) => process.stderr.write(`[shared-build] ${l}\n`),
        });
      };
      await (o.around ? o.around(run, root) : run());
      writeFileSync(done, new Date().toISOString());
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return load(out);
}

function load(dir: string): SharedBuild {
  const name = dir.split('/').pop()!;
  return {
    dir,
    kernel: join(dir, `${name}.kernel`),
    initramfs: join(dir, `${name}.initramfs`),
    iso: join(dir, `${name}.iso`),
    manifest: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, any>,
  };
}
