/**
 * Test-only: a loop device over a sparse file, so partition devices
 * (/dev/loopNp1) exist as on real disks. Needs root. Never imported by agent code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoopDevice {
  dev: string;
  file: string;
  detach: () => void;
}

export const canUseLoop = (): boolean => process.getuid?.() === 0;

export function attachLoop(sizeBytes: number): LoopDevice {
  const dir = mkdtempSync(join(tmpdir(), 'rf-loop-'));
  const file = join(dir, 'disk.img');
  writeFileSync(file, '');
  truncateSync(file, sizeBytes);
  const dev = execFileSync('losetup', ['-fP', '--show', file], { encoding: 'utf8' }).trim();
  return {
    dev,
    file,
    detach: () => {
      try {
        execFileSync('losetup', ['-d', dev]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Run a tool, return stdout; "" when it exits non-zero (blkid with nothing to report exits 2). */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return '';
  }
}
