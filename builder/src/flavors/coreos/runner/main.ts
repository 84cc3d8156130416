/**
 * ramforge's coreos-cloudinit: bundled (esbuild) into the container host
 * as /usr/lib/ramforge/coreos-cloudinit.mjs and run at boot by
 * coreos-cloudinit.service on /usr/share/oem/cloud-config.yml. It runs on
 * the agent container's Node (the host has none; see
 * ../host-os.ts), so it imports nothing but Node and yaml.
 *
 *   coreos-cloudinit.mjs --from-file FILE
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse } from 'yaml';
import { planCloudConfig, type Plan } from './plan.js';

const HEADER = '#cloud-config';

function log(line: string): void {
  process.stderr.write(`coreos-cloudinit: ${line}\n`);
}

function run(argv: string[], input?: string): boolean {
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'], input });
  if (r.status !== 0) log(`${argv.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}`);
  return r.status === 0;
}

function userExists(name: string): boolean {
  return readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .some((l) => l.split(':')[0] === name);
}

/** Apply a plan: files and links first, then the commands in order. Failures are logged, the boot goes on. */
export function applyPlan(plan: Plan): void {
  for (const w of plan.warnings) log(w);
  for (const f of plan.files) {
    try {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileSync(f.path, f.content);
      chmodSync(f.path, f.mode);
      if (f.owner) run(['chown', f.owner, f.path]);
    } catch (e) {
      log(`writing ${f.path}: ${(e as Error).message}`);
    }
  }
  for (const l of plan.links) {
    try {
      mkdirSync(dirname(l.path), { recursive: true });
      rmSync(l.path, { force: true });
      symlinkSync(l.target, l.path);
    } catch (e) {
      log(`linking ${l.path}: ${(e as Error).message}`);
    }
  }
  for (const c of plan.commands) {
    const [cmd, name, ...opts] = c.argv;
    if (cmd === 'ensure-user') {
      if (!userExists(name as string))
        run([
          'useradd',
          ...(opts.includes('--no-create-home') ? [] : ['-m']),
          ...opts.filter((o) => o !== '--no-create-home'),
          name as string,
        ]);
      continue;
    }
    run(c.argv, c.input);
  }
}

function main(argv: string[]): number {
  const i = argv.indexOf('--from-file');
  const file = i >= 0 ? argv[i + 1] : undefined;
  if (!file) {
    log('usage: coreos-cloudinit --from-file FILE');
    return 2;
  }
  if (!existsSync(file)) {
    log(`${file} does not exist: nothing to do`);
    return 0;
  }
  const text = readFileSync(file, 'utf8');
  if (text.split('\n', 1)[0]?.trim() !== HEADER) {
    log(`${file} does not start with ${HEADER}: ignored`);
    return 0;
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (e) {
    log(`${file}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
    return 1;
  }
  const plan = planCloudConfig(value);
  log(`${file}: ${plan.files.length} files, ${plan.links.length} links, ${plan.commands.length} commands`);
  applyPlan(plan);
  log(`${file}: applied`);
  return 0;
}

if (process.argv[1] && /coreos-cloudinit/.test(process.argv[1])) process.exitCode = main(process.argv.slice(2));
