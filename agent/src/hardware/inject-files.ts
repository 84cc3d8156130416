/**
 * The inject_files deploy step (IPA's inject_files.py, behaviour re-implemented):
 * write, or delete, files on the partitions of the deployed disk after
 * write_image. The files come from the node property `inject_files` followed
 * by the step's `files` argument; every entry is checked before anything is
 * mounted, and each error names the entry and the field.
 *
 * Where a file goes: `partition` a number (partition N of the install disk), or
 * a mount source such as UUID=..., LABEL=... or /dev/sda2, as IPA passes it to
 * mount(8); without it, the first partition of the install disk (LVM ones
 * skipped) whose root holds a directory named like the path's first component
 * (etc for /etc/sysctl.d/x.conf). `content` is base64, or an http(s) URL that
 * is downloaded, with `{node[...]}` and `{ports[N][...]}` replaced from the node
 * and its ports as IPA's str.format does; `deleted: true` removes the file.
 *
 * Unlike IPA, the file and its directory must stay inside the mounted
 * filesystem: a `..` component or a symlink in the image leading outside it
 * (an absolute link resolves in the ramdisk, not in the image) is refused.
 */
import { createWriteStream } from 'node:fs';
import { chmod, chown, lstat, mkdir, readlink, realpath, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AgentError, CommandExecutionError, DeviceNotFound, InvalidCommandParamsError } from '../errors.js';
import type { ProgramRunner } from '../util/exec.js';
import { httpRequest, readCaFile, retry, NoAnswerError } from '../util/http.js';
import type { Log } from '../util/log.js';
import { withMount } from '../image/grub-chroot.js';
import { listPartitionsWithType, partitionPath } from './disks/disk-facts.js';
import type { Node, Port } from './types.js';

export interface InjectFile {
  path: string;
  partition?: number | string;
  content?: string;
  deleted?: boolean;
  mode?: number;
  dirmode?: number;
  owner?: number;
  group?: number;
}

/** No partition named: absent, null, '' or 0 (IPA's `if partition:`), so the install disk's partitions are searched. */
const noPartition = (p: unknown): p is undefined | null | '' | 0 => p === undefined || p === null || p === '' || p === 0;

const FIELDS = new Set(['path', 'partition', 'content', 'deleted', 'mode', 'dirmode', 'owner', 'group']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const show = (v: unknown): string => {
  const s = JSON.stringify(v);
  return s && s.length > 200 ? `${s.slice(0, 200)}...` : String(s);
};

/** IPA's _validate_files: the property's list, then the argument's, each entry checked; every problem is reported at once. */
export function validateFiles(fromProperties: unknown, fromArgs: unknown): InjectFile[] {
  const props = fromProperties ?? [];
  const args = fromArgs ?? [];
  if (!Array.isArray(props)) {
    throw new InvalidCommandParamsError(`The inject_files node property must be a list, got ${describeKind(props)}`);
  }
  if (!Array.isArray(args)) throw new InvalidCommandParamsError(`The files argument must be a list, got ${describeKind(args)}`);
  const files: unknown[] = [...props, ...args];
  const failures: string[] = [];
  files.forEach((raw, i) => {
    const where = `files[${i}] ${show(raw)}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      failures.push(`${where}: must be an object`);
      return;
    }
    const fl = raw as Record<string, unknown>;
    const unknown = Object.keys(fl).filter((k) => !FIELDS.has(k));
    if (unknown.length) failures.push(`${where}: unexpected fields ${unknown.join(', ')}`);
    const path = fl.path;
    if (typeof path !== 'string' || path === '') failures.push(`${where}: path is required (an absolute path to a file)`);
    else if (!path.startsWith('/')) failures.push(`${where}: path must be absolute`);
    else if (path.includes('\0')) failures.push(`${where}: path contains a NUL byte`);
    else if (path.endsWith('/')) failures.push(`${where}: path names a directory; only files are supported`);
    else if (path.split('/').includes('..')) failures.push(`${where}: path must not contain ".."`);
    else if (dirname(path) === '/' && noPartition(fl.partition)) {
      failures.push(`${where}: a file in the root directory requires "partition"`);
    }
    const part = fl.partition;
    if (!noPartition(part)) {
      if (typeof part === 'number') {
        if (!Number.isInteger(part) || part < 1) failures.push(`${where}: partition must be a partition number >= 1 or a mount source`);
      } else if (typeof part !== 'string') failures.push(`${where}: partition must be a number or a string`);
      else if (part.trim().startsWith('-')) failures.push(`${where}: partition must not start with "-"`);
      else if (/^\s*\+?\d+\s*$/.test(part) && Number(part) < 1) failures.push(`${where}: partition numbers start at 1`);
    }
    const deleted = fl.deleted;
    if (deleted !== undefined && deleted !== null && typeof deleted !== 'boolean') failures.push(`${where}: deleted must be true or false`);
    const content = fl.content;
    if (content !== undefined && content !== null) {
      if (typeof content !== 'string') failures.push(`${where}: content must be a string (base64 or a URL)`);
      else if (deleted === true && content !== '') failures.push(`${where}: content cannot be used with deleted`);
      else if (!content.includes('://') && !BASE64.test(content.replace(/\s+/g, '')))
        failures.push(`${where}: content is not valid base64`);
      else if (!content.includes('://') && content.replace(/\s+/g, '').length % 4 !== 0) {
        failures.push(`${where}: content is not valid base64 (incorrect padding)`);
      } else if (content.includes('://') && !/^https?:\/\//i.test(content)) failures.push(`${where}: a content URL must be http(s)`);
    } else if (deleted !== true) failures.push(`${where}: content is required unless deleted is true`);
    for (const field of ['owner', 'group', 'mode', 'dirmode'] as const) {
      if (!(field in fl)) continue;
      const v = fl[field];
      if (typeof v !== 'number' || !Number.isInteger(v)) failures.push(`${where}: ${field} must be a number`);
      else if ((field === 'mode' || field === 'dirmode') && (v < 0 || v > 0o7777))
        failures.push(`${where}: ${field} must be 0-4095 (0o7777)`);
      else if ((field === 'owner' || field === 'group') && v < -1) failures.push(`${where}: ${field} must be -1 or more`);
    }
  });
  if (failures.length) throw new InvalidCommandParamsError(`Validation of files failed: ${failures.join('; ')}`);
  return files as InjectFile[];
}

function describeKind(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

/**
 * Python's str.format with node= and ports= for a content URL, as far as a
 * URL needs it: `{node[uuid]}`, `{node[properties][x]}`, `{ports[0][address]}`,
 * `{{` and `}}`. A conversion, format spec or attribute access is refused.
 */
export function formatContentUrl(template: string, node: Node, ports: Port[]): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      out += c;
      i++;
      continue;
    }
    if (c === '}') throw new InvalidCommandParamsError(`content URL ${template}: single "}" (write "}}" for a literal brace)`);
    if (c !== '{') {
      out += c;
      continue;
    }
    const end = template.indexOf('}', i);
    if (end < 0) throw new InvalidCommandParamsError(`content URL ${template}: unclosed "{"`);
    const field = template.slice(i + 1, end);
    const m = /^(node|ports)((?:\[[^\]]*\])*)$/.exec(field);
    if (!m)
      throw new InvalidCommandParamsError(
        `content URL ${template}: unsupported field {${field}}; use {node[key]...} or {ports[N][key]...}`,
      );
    let value: unknown = m[1] === 'node' ? node : ports;
    for (const [, key] of m[2]!.matchAll(/\[([^\]]*)\]/g)) {
      const k = /^\d+$/.test(key!) ? Number(key) : key!;
      const container = value as Record<string | number, unknown> | unknown[];
      const found = Array.isArray(container)
        ? typeof k === 'number'
          ? container[k]
          : undefined
        : value && typeof value === 'object'
          ? (container as Record<string, unknown>)[String(k)]
          : undefined;
      if (found === undefined) throw new InvalidCommandParamsError(`content URL ${template}: {${field}}: no ${JSON.stringify(key)}`);
      value = found;
    }
    if (value === null) out += 'None';
    else if (typeof value === 'boolean') out += value ? 'True' : 'False';
    else if (typeof value === 'string' || typeof value === 'number') out += String(value);
    else throw new InvalidCommandParamsError(`content URL ${template}: {${field}} is not a single value`);
    i = end;
  }
  return out;
}

export interface InjectOptions {
  run: ProgramRunner;
  log: Log;
  /** The install disk (get_os_install_device through the managers). */
  rootDevice: () => Promise<string>;
  /** Downloads of content URLs. */
  http: { insecure: boolean; cafile?: string; timeoutS: number; retries: number; retryIntervalS: number };
}

/** inject_files(node, ports, files, verify_ca): null, as IPA. */
export async function injectFiles(node: Node, ports: Port[], args: Record<string, unknown>, o: InjectOptions): Promise<null> {
  const verifyCa = args.verify_ca ?? true;
  if (typeof verifyCa !== 'boolean')
    throw new InvalidCommandParamsError(`inject_files: verify_ca must be true or false, got ${show(verifyCa)}`);
  const files = validateFiles(node.properties?.inject_files, args.files);
  if (!files.length) {
    o.log.info('inject_files: no files to inject');
    return null;
  }
  // Content URLs are filled in before anything is mounted: a bad {field} fails the step with no file written.
  const urls = new Map(files.filter((fl) => fl.content?.includes('://')).map((fl) => [fl, formatContentUrl(fl.content!, node, ports)]));
  const rootDev = await o.rootDevice();
  for (const fl of files) {
    try {
      await withPathMounted(fl, rootDev, o, (full, root) => injectOne(fl, full, root, urls.get(fl), verifyCa, o));
    } catch (e) {
      if (e instanceof AgentError) throw e;
      throw new CommandExecutionError(`Failed to process file ${fl.path}: ${(e as Error).message}`);
    }
  }
  return null;
}

/** Is `p` `root` or under it? */
const inside = (root: string, p: string): boolean => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** The real path of `p`'s deepest existing ancestor (or itself), which must stay inside `root`. */
async function checkedRealpath(root: string, p: string, what: string): Promise<string> {
  let cur = p;
  for (;;) {
    try {
      const real = await realpath(cur);
      if (!inside(root, real)) {
        throw new CommandExecutionError(
          `${what}: ${relative(root, cur) || '/'} leads outside the filesystem it is on (to ${real}); not followed`,
        );
      }
      return real;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || cur === root) throw e;
      cur = dirname(cur);
    }
  }
}

/** Whether `p` is a directory (following links); false when it does not exist. */
const isDirectory = (p: string): Promise<boolean> =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * The file open() writes when `p` is a symlink: its target, created if missing (a dangling link, whose realpath
 * fails), in a directory that must exist and stay inside `root`; links to links followed as the kernel does.
 */
async function linkTarget(root: string, p: string, what: string): Promise<string> {
  for (let hops = 0; hops < 40; hops++) {
    if (!(await lstat(p).catch(() => null))?.isSymbolicLink()) return p;
    // An absolute target resolves in the ramdisk, which checkedRealpath refuses as outside the filesystem.
    const next = resolve(dirname(p), await readlink(p));
    const realDir = await checkedRealpath(root, dirname(next), what);
    if (!(await isDirectory(dirname(next)))) {
      throw new CommandExecutionError(`${what}: the symlink leads to ${relative(root, next)}, whose directory does not exist`);
    }
    p = join(realDir, basename(next));
  }
  throw new CommandExecutionError(`${what}: too many levels of symbolic links`);
}

async function injectOne(
  fl: InjectFile,
  full: string,
  root: string,
  url: string | undefined,
  verifyCa: boolean,
  o: InjectOptions,
): Promise<void> {
  const dir = dirname(full);
  if (fl.deleted) {
    const realDir = await checkedRealpath(root, dir, fl.path);
    // checkedRealpath answers for the deepest directory that exists: with the file's own directory missing there is
    // nothing to delete (IPA's unlink gets ENOENT), not a file of the same name higher up.
    if (!(await isDirectory(dir))) {
      o.log.info(`inject_files: ${fl.path} does not exist, nothing to delete`);
      return;
    }
    const target = join(realDir, basename(full));
    try {
      await unlink(target);
      o.log.info(`inject_files: deleted ${fl.path}`);
    } catch (e) {
      // IPA's unlink_without_raise: a missing file is fine, anything else only logged.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') o.log.info(`inject_files: ${fl.path} does not exist, nothing to delete`);
      else o.log.warn(`inject_files: could not delete ${fl.path}: ${(e as Error).message}`);
    }
    return;
  }
  // The directory: created if missing (dirmode on the leaf only, as IPA's makedirs + chmod), never through a link out of the filesystem.
  await checkedRealpath(root, dir, fl.path);
  const dirExisted = await stat(dir).then(
    (s) => {
      if (!s.isDirectory()) throw new CommandExecutionError(`${fl.path}: ${relative(root, dir)} exists and is not a directory`);
      return true;
    },
    () => false,
  );
  if (!dirExisted) {
    await mkdir(dir, { recursive: true });
    if (fl.dirmode) await chmod(dir, fl.dirmode);
  }
  const realDir = await checkedRealpath(root, dir, fl.path);
  let target = join(realDir, basename(full));
  // An existing symlink is written through (open() follows it), if it stays in the filesystem.
  if ((await lstat(target).catch(() => null))?.isSymbolicLink()) target = await linkTarget(root, target, fl.path);
  if (url) await download(url, target, verifyCa, o);
  else await writeFile(target, Buffer.from((fl.content ?? '').replace(/\s+/g, ''), 'base64'));
  // chown before chmod: chown clears the setuid and setgid bits (IPA's chmod-then-chown loses them from mode).
  if (fl.owner !== undefined || fl.group !== undefined) await chown(target, fl.owner ?? -1, fl.group ?? -1);
  if (fl.mode) await chmod(target, fl.mode);
  o.log.info(`inject_files: wrote ${fl.path}`);
}

/** IPA's StreamingClient: connection errors retried (retries + 1 attempts), any non-2xx answer fails. */
async function download(url: string, target: string, verifyCa: boolean, o: InjectOptions): Promise<void> {
  const h = o.http;
  try {
    const res = await retry(
      () =>
        httpRequest(url, {
          insecure: h.insecure || !verifyCa,
          ca: verifyCa ? readCaFile(h.cafile) : undefined,
          timeoutMs: h.timeoutS * 1000,
          maxRedirects: 10,
        }),
      { attempts: h.retries + 1, delayMs: h.retryIntervalS * 1000, retryIf: (e) => e instanceof NoAnswerError },
    );
    if (!res.statusCode || res.statusCode < 200 || res.statusCode >= 300) {
      res.resume();
      throw new Error(`HTTP ${res.statusCode}`);
    }
    if (h.timeoutS) res.setTimeout(h.timeoutS * 1000, () => res.destroy(new Error(`no data within ${h.timeoutS} s`)));
    await pipeline(res, createWriteStream(target));
  } catch (e) {
    throw new CommandExecutionError(`Unable to read data from ${url}: ${(e as Error).message}`);
  }
}

const LVM_TYPES = new Set(['e6d6d379-f507-44c2-a23c-238f2a3df928', '0x8e']);

/**
 * The install disk's partitions by partition number, as IPA's parted listing (lsblk lists them in sysfs order, which
 * may be p2, p3, p1), LVM physical volumes left out (IPA skips parted's lvm flag).
 */
async function scanPartitions(rootDev: string, run: ProgramRunner): Promise<string[]> {
  const parts = await listPartitionsWithType(rootDev, run);
  return parts.filter((p) => !LVM_TYPES.has(p.partType.toLowerCase())).map((p) => p.path);
}

/**
 * Mount `source` on a new temporary directory for `fn` (ironic-lib's utils.mounted, as IPA's inject_files uses it):
 * an unmount that fails is a warning and the step goes on, the file is written by then; the directory of a mount
 * that could not be undone stays in place.
 */
function withInjectMount(source: string, o: InjectOptions, fn: (dir: string) => Promise<void>): Promise<void> {
  return withMount(source, o.run, fn, [], 'rf-inject-', (e, dir) =>
    o.log.warn(`inject_files: unable to unmount temporary location ${dir} (${source}): ${(e as Error).message}`),
  );
}

/**
 * IPA's _find_and_mount_path: mount the partition the entry names, or search
 * the install disk for the one whose root holds the path's first directory,
 * and call `fn` with the file's full path under the mount and the mount's real path.
 */
async function withPathMounted(
  fl: InjectFile,
  rootDev: string,
  o: InjectOptions,
  fn: (full: string, root: string) => Promise<void>,
): Promise<void> {
  const rel = fl.path
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
  const part = fl.partition;
  if (!noPartition(part)) {
    const source = typeof part === 'number' || /^\s*\+?\d+\s*$/.test(part) ? partitionPath(rootDev, Number(part)) : part.trim();
    try {
      await withInjectMount(source, o, async (dir) => {
        const root = await realpath(dir);
        await fn(join(root, rel), root);
      });
    } catch (e) {
      if (e instanceof AgentError) throw e;
      throw new CommandExecutionError(`Failed to process file ${fl.path} on partition ${source}: ${(e as Error).message}`);
    }
    return;
  }
  const [detect, ...rest] = rel.split('/');
  if (!detect || rest.length === 0) throw new InvalidCommandParamsError(`Invalid path ${fl.path}, must be an absolute path to a file`);
  const partitions = await scanPartitions(rootDev, o.run);
  for (const p of partitions) {
    let found = false;
    try {
      await withInjectMount(p, o, async (dir) => {
        const root = await realpath(dir);
        const real = await realpath(join(root, detect)).catch(() => null);
        if (!real || !inside(root, real) || !(await stat(real)).isDirectory()) return;
        found = true;
        o.log.info(`inject_files: ${fl.path}: /${detect} found on partition ${p}`);
        await fn(join(root, rel), root);
      });
    } catch (e) {
      if (found) throw e;
      o.log.warn(`inject_files: failure when inspecting partition ${p}: ${(e as Error).message}`);
      continue;
    }
    if (found) return;
  }
  throw new DeviceNotFound(
    `No partition found with path /${detect} (for ${fl.path}) on ${rootDev}, scanned: ${partitions.join(', ') || 'none'}`,
  );
}
