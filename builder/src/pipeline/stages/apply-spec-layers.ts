/**
 * The spec's own layers, common to every flavor: files, directories,
 * tarballs, agent config, custom hardware managers, site CA certificates,
 * root's SSH authorized_keys. They are tagged 'site:' so the initramfs
 * writer can put them in their own member (the part an operator
 * customises). Starting an SSH server for the keys is the flavor's part.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { BuildSpec } from '../../spec/normalize.js';
import type { Tree } from '../../tree/tree.js';
import { decompressStream } from '../../archive/compress.js';

export const AGENT_CONFIG_PATH = 'etc/ironic-python-agent/ramforge.json';
export const MANAGERS_DIR = 'etc/ironic-python-agent/hardware-managers';
export const CA_BUNDLE_PATH = 'etc/ramforge/ca-certificates.pem';
export const AUTHORIZED_KEYS_PATH = 'root/.ssh/authorized_keys';

export async function applySpecLayers(spec: BuildSpec, tree: Tree): Promise<void> {
  const mtime = spec.sourceDateEpoch;
  const config = { hardwareManagersDir: `/${MANAGERS_DIR}`, ...spec.agent.config };
  tree.addFile(AGENT_CONFIG_PATH, Buffer.from(JSON.stringify(config, null, 2) + '\n'), { mode: 0o644, mtime, layer: 'site:agent-config' });
  tree.addDir(MANAGERS_DIR, { mode: 0o755, mtime, layer: 'site:agent-config' });

  for (const [i, m] of spec.agent.hardwareManagers.entries()) {
    const layer = `site:agent.hardwareManagers[${i}]`;
    if ((await stat(m)).isDirectory()) await tree.mergeDirectory(m, { layer, into: `${MANAGERS_DIR}/${basename(m)}` });
    else tree.addFile(`${MANAGERS_DIR}/${basename(m)}`, { source: m }, { mode: 0o644, mtime, layer });
  }
  if (spec.agent.caCertificates.length) {
    const pems = await Promise.all(spec.agent.caCertificates.map((c) => readFile(c, 'utf8')));
    tree.addFile(CA_BUNDLE_PATH, Buffer.from(pems.map((p) => p.trim() + '\n').join('')), {
      mode: 0o644,
      mtime,
      layer: 'site:agent.caCertificates',
    });
  }
  if (spec.ssh.authorizedKeys.length) {
    // dropbear and sshd both refuse keys in a directory others may write.
    tree.addDir('root/.ssh', { mode: 0o700, mtime, layer: 'site:ssh' });
    tree.addFile(AUTHORIZED_KEYS_PATH, Buffer.from(spec.ssh.authorizedKeys.map((k) => `${k}\n`).join('')), {
      mode: 0o600,
      mtime,
      layer: 'site:ssh',
    });
  }
  for (const [i, d] of spec.directories.entries()) {
    const layer = `site:directories[${i}]`;
    if (d.src) await tree.mergeDirectory(d.src, { layer, into: d.dest });
    tree.addDir(d.dest, { mode: d.mode ?? 0o755, uid: d.uid, gid: d.gid, mtime, layer });
  }
  for (const [i, t] of spec.tarballs.entries()) {
    await tree.mergeTar(openTarball(t.src), { layer: `site:tarballs[${i}]`, into: t.dest });
  }
  for (const [i, f] of spec.files.entries()) {
    const content = f.src !== undefined ? { source: f.src } : Buffer.from(f.content ?? '');
    const mode = f.mode ?? (f.src !== undefined && (await stat(f.src)).mode & 0o111 ? 0o755 : 0o644);
    tree.addFile(f.dest, content, { mode, uid: f.uid, gid: f.gid, mtime, layer: `site:files[${i}]` });
  }
}

function openTarball(path: string): Readable {
  const raw = createReadStream(path);
  if (/\.(tgz|tar\.gz)$/.test(path)) return raw.pipe(createGunzip());
  if (/\.(txz|tar\.xz)$/.test(path)) return raw.pipe(decompressStream('xz'));
  if (/\.(tzst|tar\.zst)$/.test(path)) return raw.pipe(decompressStream('zstd'));
  return raw;
}
