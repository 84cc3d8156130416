/**
 * Deploying a whole-disk image into a qemu VM through the real conductor
 * (Ironic 21.4), for the agent's acceptance tests:
 *
 * - the image is served by the test Ironic's own file server (its http_root,
 *   on the host's 127.0.0.1): the conductor sends a HEAD to the image URL
 *   before deploying, so the URL must be one the host reaches;
 * - the guest cannot reach the host's 127.0.0.1, so it fetches the same URL
 *   through a forward proxy this module runs on 127.0.0.1:P, which the guest
 *   reaches as http://10.0.2.2:P (slirp), set as driver_info/image_http_proxy
 *   (Zed hands it to the agent as image_info.proxies). No host process ever
 *   connects to 10.0.2.2.
 *
 * Plus the byte-for-byte comparison of a disk file with the image, and the
 * failure output (Ironic's log, the VM's serial console) the VM tests print.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import { join } from 'node:path';
import type { IronicEnv, IronicNode } from './ironic.js';
import type { Vm } from './qemu.js';

export interface ImageProxy {
  /** The proxy as the guest reaches it: http://10.0.2.2:P. */
  guestUrl: string;
  close(): Promise<void>;
}

/** An HTTP forward proxy for the guest on 127.0.0.1: absolute-URI requests, to 127.0.0.1 only. */
export async function startImageProxy(): Promise<ImageProxy> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://invalid');
    if (url.hostname !== '127.0.0.1') {
      res.writeHead(403).end('only 127.0.0.1 is proxied');
      return;
    }
    httpGet(url, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    }).on('error', (e) => res.writeHead(502).end(String(e)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    guestUrl: `http://10.0.2.2:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface ServedImage {
  /** The file in the Ironic image server's root. */
  file: string;
  /** Its URL on the host's 127.0.0.1 (what instance_info/image_source names). */
  url: string;
  sha256: string;
  remove(): void;
}

/** `name` in the image server's root, as written there already (e.g. by parted) or given as `bytes`. */
export function serveImage(env: IronicEnv, name: string, bytes?: Buffer): ServedImage {
  const file = join(env.httpRoot, name);
  if (bytes) writeFileSync(file, bytes);
  return {
    file,
    url: `${env.httpUrl}/${name}`,
    sha256: createHash('sha256')
      .update(bytes ?? readFileSync(file))
      .digest('hex'),
    remove: () => rmSync(file, { force: true }),
  };
}

/**
 * A raw whole-disk image of `size` bytes: an MBR (no boot code) with one
 * Linux partition from 1 MiB to the end, filled with random bytes. An MBR,
 * not a GPT: the agent moves a GPT's backup header to the end of the disk
 * (IPA's fix_gpt_partition), so only an MBR image stays byte for byte what
 * was sent. In BIOS mode the conductor installs no boot loader for a
 * whole-disk image, so nothing in it needs to boot.
 */
export function randomMbrImage(size: number): Buffer {
  const bytes = randomBytes(size);
  bytes.fill(0, 0, 1 << 20);
  const e = 446;
  // Status, CHS first (LBA only: 0xfe 0xff 0xff), type 0x83, CHS last, LBA first, sector count.
  bytes.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], e);
  bytes.writeUInt32LE(2048, e + 8);
  bytes.writeUInt32LE(size / 512 - 2048, e + 12);
  bytes.writeUInt16LE(0xaa55, 510);
  return bytes;
}

export interface DeployOptions {
  image: ServedImage;
  /** The guest's route to the image (driver_info/image_http_proxy). */
  proxy?: ImageProxy;
  /** User deploy steps for the provision request (e.g. raid.apply_configuration). */
  deploySteps?: unknown[];
  /**
   * Boots the ramdisk once the conductor waits for it ('wait call-back'), as
   * a node rebooting into the ramdisk does. Without it the agent must be
   * running already (fast track: driver_info/fast_track).
   */
  boot?: () => Promise<unknown>;
  /** What to call it in the timing line. */
  label: string;
  timeoutMs?: number;
}

/** Sets the image (and the proxy), provisions the node and waits for `active`; logs how long it took. */
export async function deployImage(env: IronicEnv, uuid: string, o: DeployOptions): Promise<IronicNode> {
  const patch = [
    ...Object.entries({ image_source: o.image.url, image_checksum: o.image.sha256, image_disk_format: 'raw' }).map(([k, v]) => ({
      op: 'add',
      path: `/instance_info/${k}`,
      value: v,
    })),
    ...(o.proxy ? [{ op: 'add', path: '/driver_info/image_http_proxy', value: o.proxy.guestUrl }] : []),
  ];
  const p = await env.api('PATCH', `/v1/nodes/${uuid}`, patch);
  if (p.status !== 200) throw new Error(`setting the image on ${uuid}: HTTP ${p.status} ${JSON.stringify(p.body)}`);
  const t0 = Date.now();
  await env.setProvisionState(uuid, 'active', o.deploySteps ? { deploy_steps: o.deploySteps } : {});
  if (o.boot) {
    await env.waitForProvisionState(uuid, ['wait call-back'], 120_000);
    await o.boot();
  }
  const n = await env.waitForProvisionState(uuid, ['active'], o.timeoutMs ?? 600_000);
  console.log(`${o.label} took ${Date.now() - t0} ms`);
  return n;
}

/**
 * The conductor ends a deploy with the agent's power off (poweroff -f ends
 * qemu): wait for it, at most `ms`, then stop the VM. True when the VM
 * ended by itself.
 */
export async function waitForPowerOff(vm: Vm, ms = 60_000): Promise<boolean> {
  const exited = await Promise.race([vm.exited().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  await vm.stop();
  return exited;
}

/**
 * The first offset where the disk file differs from `image` in the image's
 * length, or -1 (4 MiB at a time); and the first non-zero byte after it
 * (where cleaning left zeros), or -1.
 */
export function compareDiskWithImage(disk: string, image: Buffer): { firstDifference: number; firstNonZeroAfter: number } {
  const chunk = 4 << 20;
  const buf = Buffer.alloc(chunk);
  const fd = openSync(disk, 'r');
  try {
    let firstDifference = -1;
    for (let pos = 0; pos < image.length && firstDifference < 0; pos += chunk) {
      const n = readSync(fd, buf, 0, Math.min(chunk, image.length - pos), pos);
      const want = image.subarray(pos, pos + n);
      if (n < Math.min(chunk, image.length - pos)) firstDifference = pos + n;
      else if (!buf.subarray(0, n).equals(want)) firstDifference = pos + buf.subarray(0, n).findIndex((b, i) => b !== want[i]);
    }
    let firstNonZeroAfter = -1;
    for (let pos = image.length; firstNonZeroAfter < 0; pos += chunk) {
      const n = readSync(fd, buf, 0, chunk, pos);
      if (n === 0) break;
      const i = buf.subarray(0, n).findIndex((b) => b !== 0);
      if (i >= 0) firstNonZeroAfter = pos + i;
    }
    return { firstDifference, firstNonZeroAfter };
  } finally {
    closeSync(fd);
  }
}

/** What a failed VM test prints: Ironic's log tail, then the running VM's serial console or the named serial logs. */
export function printVmFailure(env: IronicEnv, vm: Vm | undefined, serialLogs: string[] = []): void {
  console.error(env.logTail(80));
  if (vm) {
    console.error(`--- serial console (tail)\n${vm.serialText().split('\n').slice(-80).join('\n')}`);
    return;
  }
  for (const f of serialLogs)
    if (existsSync(f)) console.error(`--- ${f} (tail)\n${readFileSync(f, 'utf8').split('\n').slice(-60).join('\n')}`);
}
