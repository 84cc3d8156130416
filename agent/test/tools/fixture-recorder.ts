/**
 * A HostAccess that reads the live machine and copies everything it touched
 * into a fixture tree: files at their real location, symlinks verbatim (sysfs
 * links are relative, so they resolve inside the copy too), listed entries as
 * placeholders, IPMI char devices as plain files, command outputs into
 * .commands/<key>.{out,err,rc}. Replaying the tree repeats the same reads.
 */
import { lstat, mkdir, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ExecError } from '../../src/util/exec.js';
import type { HostAccess } from '../../src/hardware/inventory/host-access.js';
import { commandKey, createHostAccess } from '../../src/hardware/inventory/host-access.js';

const lstatOrUndefined = (p: string) => lstat(p).catch(() => undefined);
// Collectors run concurrently: two of them may create the same entry.
const ignoreExists = (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EEXIST') throw e;
};

export function createRecordingHost(outDir: string, live: HostAccess = createHostAccess()): HostAccess {
  const out = path.resolve(outDir);
  const dest = (p: string) => path.join(out, p);
  // Paths are root-relative ('/sys/…'); src() is where they live on the recorded machine.
  const src = (p: string) => path.join(live.root, p);

  async function copyLink(p: string): Promise<string> {
    const target = await readlink(src(p));
    const linkAt = dest(p);
    await mkdir(path.dirname(linkAt), { recursive: true });
    const rel = path.isAbsolute(target) ? path.relative(path.dirname(p), target) || '.' : target;
    await symlink(rel, linkAt).catch(ignoreExists);
    return path.resolve(path.dirname(p), target);
  }

  /** Mirrors every directory and symlink on the way to p; returns p's real path. */
  async function mirror(p: string, depth = 0): Promise<string> {
    if (depth > 40) return p;
    let cur = '/';
    const parts = p.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const next = path.join(cur, parts[i]!);
      const st = await lstatOrUndefined(src(next));
      if (!st) return path.join(next, ...parts.slice(i + 1));
      if (st.isSymbolicLink()) cur = await mirror(await copyLink(next), depth + 1);
      else {
        if (st.isDirectory()) await mkdir(dest(next), { recursive: true });
        cur = next;
      }
    }
    return cur;
  }

  async function placeholder(p: string): Promise<void> {
    const st = await lstatOrUndefined(src(p));
    if (!st) return;
    if (st.isSymbolicLink()) {
      await mirror(path.dirname(p));
      await copyLink(p);
      return;
    }
    const real = await mirror(p);
    if (st.isDirectory()) return;
    await mkdir(path.dirname(dest(real)), { recursive: true });
    // 'wx': never clobber content a concurrent readText already wrote.
    await writeFile(dest(real), '', { flag: 'wx' }).catch(ignoreExists);
  }

  const writeCmd = async (argv: string[], ext: string, data: string) => {
    await mkdir(dest('/.commands'), { recursive: true });
    await writeFile(dest(`/.commands/${commandKey(argv)}${ext}`), data);
  };

  return {
    root: live.root,
    replay: false,
    async readText(p) {
      const v = await live.readText(p);
      if (v !== undefined) {
        const real = await mirror(p);
        await mkdir(path.dirname(dest(real)), { recursive: true });
        await writeFile(dest(real), v);
      }
      return v;
    },
    async readLink(p) {
      const v = await live.readLink(p);
      if (v !== undefined) await placeholder(p);
      return v;
    },
    async realPath(p) {
      const v = await live.realPath(p);
      if (v !== undefined) {
        const real = await mirror(p);
        // A device node at the end (/dev/sda behind a by-path link) becomes a
        // plain file, so that the copied link resolves when replayed.
        if (!(await lstatOrUndefined(dest(real)))) {
          await mkdir(path.dirname(dest(real)), { recursive: true });
          await writeFile(dest(real), '', { flag: 'wx' }).catch(ignoreExists);
        }
      }
      return v;
    },
    async exists(p) {
      const v = await live.exists(p);
      if (v) {
        await placeholder(p);
        // git drops empty directories; a .keep keeps e.g. /sys/firmware/efi alive.
        const real = await mirror(p);
        if ((await lstatOrUndefined(src(real)))?.isDirectory())
          await writeFile(dest(path.join(real, '.keep')), '', { flag: 'wx' }).catch(ignoreExists);
      }
      return v;
    },
    async listDir(p) {
      const names = await live.listDir(p);
      for (const n of names) await placeholder(path.join(p, n));
      return names;
    },
    async isCharDevice(p) {
      const v = await live.isCharDevice(p);
      if (v) {
        await mkdir(path.dirname(dest(p)), { recursive: true });
        await writeFile(dest(p), '');
      }
      return v;
    },
    async hasCommand(name) {
      const v = await live.hasCommand(name);
      if (v) await writeCmd([name], '.present', '');
      return v;
    },
    async run(argv, opts) {
      try {
        const r = await live.run(argv, opts);
        await writeCmd(argv, '.out', r.stdout);
        if (r.stderr) await writeCmd(argv, '.err', r.stderr);
        if (r.code !== 0) await writeCmd(argv, '.rc', String(r.code));
        return r;
      } catch (e) {
        if (e instanceof ExecError && e.code !== null) {
          await writeCmd(argv, '.out', e.stdout);
          if (e.stderr) await writeCmd(argv, '.err', e.stderr);
          await writeCmd(argv, '.rc', String(e.code));
        }
        throw e;
      }
    },
  };
}
