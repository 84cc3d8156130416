/**
 * A built root directory (a Debian base after the elements) into the build
 * tree, as tar carries it: owners, modes, links, devices; /boot (the kernel
 * is taken from it) and /tmp's contents stay out. The kernel opens
 * /dev/console before systemd mounts devtmpfs, so it and /dev/null are
 * added as device nodes. Shared by the dib flavor and the coreos flavor's
 * container host.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { BuildError } from '../../errors.js';
import { baseEnv, interruptOption, run } from '../../exec/run.js';
import type { Tree } from '../../tree/tree.js';

/**
 * `argv` wraps the tar command: the rootless dib build runs it in its user
 * namespace, where tar reads every file (other users' homes too) and
 * --numeric-owner gives the uids the image must have.
 */
export async function mergeRootDir(
  tree: Tree,
  root: string,
  opts: { mtime: number; layer: string; argv?: (argv: string[]) => string[] },
): Promise<void> {
  const [cmd, ...args] = (opts.argv ?? ((a) => a))([
    'tar',
    '-C',
    root,
    '--numeric-owner',
    '--sort=name',
    '--exclude=./boot',
    '--exclude=./tmp/*',
    '-cf',
    '-',
    '.',
  ]);
  const child = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'pipe'], env: baseEnv(), ...interruptOption() });
  let err = '';
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  // 'error' (an interrupt's abort, a missing tar) is followed by 'close' when the process ran; without a listener it would crash the process.
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  await tree.mergeTar(child.stdout, { layer: opts.layer });
  const code = await done;
  if (code !== 0 || spawnError)
    throw new BuildError(`tar of the built root failed (${spawnError?.message ?? code}): ${err.trim().split('\n').slice(-3).join(' ')}`);
  tree.addDevice('dev/console', 'char', 5, 1, { mode: 0o600, mtime: opts.mtime, layer: opts.layer });
  tree.addDevice('dev/null', 'char', 1, 3, { mode: 0o666, mtime: opts.mtime, layer: opts.layer });
}

/** The same root as a tar file (for a cache): what mergeRootDir would merge. */
export async function packRootDir(root: string, out: string): Promise<void> {
  await run(['tar', '-C', root, '--numeric-owner', '--sort=name', '--exclude=./boot', '--exclude=./tmp/*', '-cf', out, '.']);
}

/** A tar file made by packRootDir into the tree, with the device nodes mergeRootDir adds. */
export async function mergeRootTar(tree: Tree, file: string, opts: { mtime: number; layer: string }): Promise<void> {
  await tree.mergeTar(createReadStream(file), { layer: opts.layer });
  tree.addDevice('dev/console', 'char', 5, 1, { mode: 0o600, mtime: opts.mtime, layer: opts.layer });
  tree.addDevice('dev/null', 'char', 1, 3, { mode: 0o666, mtime: opts.mtime, layer: opts.layer });
}
