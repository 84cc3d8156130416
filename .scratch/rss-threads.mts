import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { prepareAgent, waitForStatus, rssMiB } from '../bench/agent.ts';
import { startFakeIronic } from '../agent/test/support/fake-ironic.ts';

const dirs: string[] = [];
const ctx: any = {
  quick: true,
  tempDir: (label: string, o?: { under?: string }) => { const d = mkdtempSync(join(o?.under ?? tmpdir(), `rss-${label}-`)); dirs.push(d); return d; },
  track: (c: any) => c, defer: () => {}, log: () => {},
};
function report(pid: number, label: string) {
  const threads = readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim());
  const byKind: Record<string, number> = {};
  let cur = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { cur = m[1] ? (m[1].includes('node') ? 'node-binary' : m[1]) : 'anon'; continue; }
    if (line.startsWith('Rss:')) byKind[cur] = (byKind[cur] ?? 0) + Number(/(\d+)/.exec(line)![1]);
  }
  const anon: string[] = [];
  let range = '', name = '', perms = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) { range = `${((parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / 1048576).toFixed(1)}M`; perms = m[3]!; name = m[4] ?? ''; continue; }
    if (line.startsWith('Rss:') && !name) { const kb = Number(/(\d+)/.exec(line)![1]); if (kb >= 256) anon.push(`${range}/${perms}:${(kb / 1024).toFixed(2)}`); }
  }
  console.log(label, 'anon>=256K', anon.join(' '));
  const top = Object.entries(byKind).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k}=${(v / 1024).toFixed(2)}`);
  console.log(label, 'rss', rssMiB(pid).toFixed(1), 'threads', threads.length, JSON.stringify(threads), top.join(' '));
}
const a = await prepareAgent(ctx);
const port = 40000 + Math.floor(Math.random() * 1000);
const cmdline = join(a.dir, 'cmdline');
writeFileSync(cmdline, `ipa-listen-host=127.0.0.1 ipa-listen-port=${port}\n`);
let c = a.start(['--standalone', '--cmdline', cmdline]);
await waitForStatus(port, c); await sleep(2000); report(c.pid!, 'standalone'); await a.stop(c);
const ironic = await startFakeIronic();
writeFileSync(cmdline, `ipa-api-url=${ironic.url} ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-advertise-host=127.0.0.1\n`);
c = a.start(['--cmdline', cmdline]);
await sleep(2500); report(c.pid!, 'after-lookup'); await a.stop(c);
writeFileSync(cmdline, `ipa-api-url=${ironic.url} ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-advertise-host=127.0.0.1 ipa-enable-auto-tls=0\n`);
c = a.start(['--cmdline', cmdline]);
await sleep(2500); report(c.pid!, 'no-tls'); await a.stop(c);
await ironic.close();
for (const d of dirs) rmSync(d, { recursive: true, force: true });
