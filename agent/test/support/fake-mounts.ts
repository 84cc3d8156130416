/**
 * Mounts for fake runners: `mount DEV DIR` (options allowed) writes DEV's
 * files into DIR, `umount DIR` reads them back into DEV and empties DIR (a
 * DIR not mounted fails as umount does), `mount --bind` is recorded, and a
 * chroot grub-install writes GRUB's EFI files under the chroot's /boot/efi.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export type Files = Record<string, string | Buffer>;

export async function readTree(dir: string, root = dir): Promise<Files> {
  const out: Files = {};
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, await readTree(p, root));
    else out[relative(root, p)] = await readFile(p);
  }
  return out;
}

/** Handles mount/umount/chroot grub-install over `contents` (device → files); false for any other command. */
export function fakeMounts(contents: Record<string, Files>): (argv: string[]) => Promise<boolean> {
  const mounts = new Map<string, string | null>();
  return async (argv) => {
    const [cmd, ...a] = argv;
    if (cmd === 'mount') {
      if (a[0] === '--bind') mounts.set(a[2]!, null);
      else {
        const [dev, at] = a[0] === '-o' ? [a[2]!, a[3]!] : [a[0]!, a[1]!];
        mounts.set(at, dev);
        for (const [f, c] of Object.entries(contents[dev] ?? {})) {
          await mkdir(join(at, f, '..'), { recursive: true });
          await writeFile(join(at, f), c);
        }
      }
      return true;
    }
    if (cmd === 'umount') {
      const dev = mounts.get(a[0]!);
      if (dev === undefined) throw new Error(`umount: ${a[0]}: not mounted`);
      mounts.delete(a[0]!);
      if (dev) {
        contents[dev] = await readTree(a[0]!);
        for (const e of await readdir(a[0]!)) await rm(join(a[0]!, e), { recursive: true });
      }
      return true;
    }
    if (cmd === 'chroot' && a[1] === 'grub-install') {
      const dest = a.includes('--removable') ? 'boot/efi/EFI/BOOT/BOOTX64.EFI' : 'boot/efi/EFI/debian/grubx64.efi';
      await mkdir(join(a[0]!, dest, '..'), { recursive: true });
      await writeFile(join(a[0]!, dest), 'grub');
      return true;
    }
    return false;
  };
}
