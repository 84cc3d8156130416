/**
 * clean_uefi_nvram through the generic manager with a scripted efibootmgr that
 * keeps an NVRAM of its own: `-v` lists it, `-b XXXX -B` removes an entry.
 * The effect checked is what is left in that NVRAM.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestAgent, makeConfig, postCommand } from '../../test/helpers.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { createState } from '../state.js';
import type { ProgramRunner } from '../util/exec.js';
import { GenericHardwareManager } from './generic.js';
import { compileMatchPatterns, DEFAULT_NVRAM_MATCH_PATTERNS } from './uefi-nvram.js';
import { loadHardwareManagers } from './plugins.js';
import type { Step } from './types.js';

const ENTRIES: Array<[string, string, string]> = [
  ['0000', 'UiApp', 'FvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)'],
  ['0001', 'UEFI QEMU DVD-ROM QM00003', 'PciRoot(0x0)/Pci(0x1,0x1)/Ata(Secondary,Master,0x0)N.....YM....R,Y.'],
  [
    '0002',
    'UEFI PXEv4 (MAC:525400123456)',
    'PciRoot(0x0)/Pci(0x3,0x0)/MAC(525400123456,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)N.....YM....R,Y.',
  ],
  ['0003', 'debian', 'HD(1,GPT,0b0d5a2c-1f9a-4d0b-9d57-1f3c2a6b7e11,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)'],
  ['0004', 'ironic1', 'HD(1,GPT,7e57ab1e-0000-4000-8000-000000000001,0x800,0x100000)/File(\\EFI\\BOOT\\BOOTX64.EFI)'],
  ['000A', 'Linux Boot Manager', 'VenHw(99e275e7-75a0-4b37-a2e6-c5385e6c00cb)/File(\\EFI\\systemd\\GRUBX64.EFI)'],
];

/** A fake efibootmgr over an NVRAM of its own (starting with ENTRIES). */
function fakeEfibootmgr() {
  const nvram = ENTRIES.map(([num, label, path]) => ({ num, label, path }));
  const calls: string[][] = [];
  const run: ProgramRunner = async (argv) => {
    calls.push(argv);
    if (argv[0] !== 'efibootmgr') throw new Error(`unexpected ${argv.join(' ')}`);
    if (argv[1] === '-v' && argv.length === 2) {
      const lines = ['BootCurrent: 0003', 'Timeout: 0 seconds', `BootOrder: ${nvram.map((e) => e.num).join(',')}`];
      for (const e of nvram) lines.push(`Boot${e.num}* ${e.label}\t${e.path}`);
      return { stdout: `${lines.join('\n')}\n`, stderr: '', code: 0 };
    }
    if (argv[1] === '-b' && argv[3] === '-B') {
      const i = nvram.findIndex((e) => e.num === argv[2]);
      if (i < 0) return Promise.reject(new Error(`Could not delete variable: Boot${argv[2]} not found`));
      nvram.splice(i, 1);
      return { stdout: '', stderr: '', code: 0 };
    }
    throw new Error(`unexpected ${argv.join(' ')}`);
  };
  return { run, calls, nvram };
}

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** The generic manager on a root that looks booted in UEFI mode (sys/firmware/efi) or not. */
async function managersFor(run: ProgramRunner, uefi: boolean) {
  const root = mkdtempSync(join(tmpdir(), 'rf-nvram-'));
  roots.push(root);
  if (uefi) mkdirSync(join(root, 'sys/firmware/efi'), { recursive: true });
  const config = makeConfig({ rootPath: root, diskWaitAttempts: 1, hardwareManagersDir: join(root, 'none') });
  const log = createMemoryLog();
  const managers = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log,
    run,
    builtins: (ctx) => [new GenericHardwareManager(ctx)],
  });
  return { managers, log };
}

const removals = (calls: string[][]) => calls.filter((c) => c.includes('-B')).map((c) => c.join(' '));

describe('clean_uefi_nvram', () => {
  it("IPA's default patterns remove the disk entries and the shim/GRUB loaders, nothing else", async () => {
    const fake = fakeEfibootmgr();
    const { managers } = await managersFor(fake.run, true);
    const r = (await managers.dispatchToManagers('clean_uefi_nvram', {}, [], {})) as { removed: Array<{ num: string }> };
    assert.deepEqual(removals(fake.calls), ['efibootmgr -b 0003 -B', 'efibootmgr -b 0004 -B', 'efibootmgr -b 000A -B']);
    assert.deepEqual(
      fake.nvram.map((e) => e.num),
      ['0000', '0001', '0002'],
    );
    assert.deepEqual(
      r.removed.map((e) => e.num),
      ['0003', '0004', '000A'],
    );
  });

  it('match_patterns replaces the default; only the device path is matched, case-insensitively', async () => {
    const fake = fakeEfibootmgr();
    const { managers, log } = await managersFor(fake.run, true);
    // "debian" is entry 0003's label, not in any path: nothing matches it. "mac(" matches the PXE entry's path.
    await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: ['debian$', 'mac\\(', '\\\\EFI\\\\BOOT\\\\'] });
    assert.deepEqual(removals(fake.calls), ['efibootmgr -b 0002 -B', 'efibootmgr -b 0004 -B']);
    assert.deepEqual(
      fake.nvram.map((e) => e.num),
      ['0000', '0001', '0003', '000A'],
    );
    assert.ok(log.lines.some((l) => l.includes('removing Boot0002 "UEFI PXEv4 (MAC:525400123456)"')));
    // An empty list removes nothing.
    await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: [] });
    assert.equal(fake.nvram.length, 4);
  });

  it("Python's \\A and \\Z anchors mean the start and end of the device path, as in IPA's re.search", async () => {
    const fake = fakeEfibootmgr();
    const { managers } = await managersFor(fake.run, true);
    // In JavaScript \A and \Z are the letters A and Z: these matched nothing and every entry stayed.
    await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: ['\\AHD\\(', 'grubx64\\.efi\\)\\Z'] });
    assert.deepEqual(removals(fake.calls), ['efibootmgr -b 0003 -B', 'efibootmgr -b 0004 -B', 'efibootmgr -b 000A -B']);
    assert.deepEqual(
      fake.nvram.map((e) => e.num),
      ['0000', '0001', '0002'],
    );
    // An escaped backslash before A stays a backslash then the letter A.
    const [escaped] = compileMatchPatterns(['File\\(\\\\Apps']);
    assert.equal(escaped!.test('HD(1)/File(\\Apps\\x.efi)'), true);
    assert.equal(escaped!.test('HD(1)/File(Apps)'), false);
  });

  it("Python's inline flags: a leading (?x) verbose pattern, (?i), (?a), (?u); scoped (?i:...) and (?s:...)", async () => {
    const cases: Array<[string[], string[]]> = [
      // Verbose: whitespace and the comment are dropped; the escaped space and the one in the class stay.
      [['(?x) \\A HD \\( 1 , GPT  # a GPT partition\n  .* shim x64 \\. efi \\) \\Z'], ['0003']],
      [['(?x)UEFI\\ PXEv4', '(?x)MAC\\(525400[ ]?123456'], ['0002']],
      [['(?i)^hd\\(.*BOOT'], ['0004']],
      [['(?a)File\\(\\\\EFI\\\\\\w+\\\\GRUB\\w*\\.EFI'], ['000A']],
      [['(?u)^FvVol'], ['0000']],
      [
        ['(?i:grubx64)\\.efi\\)$', '(?s:Ata\\(Secondary.*)N'],
        ['0001', '000A'],
      ],
      [['(?ix) ^ pciroot \\( 0x0 \\) (?# the PCI root) / pci \\( 0x3'], ['0002']],
    ];
    for (const [patterns, gone] of cases) {
      const fake = fakeEfibootmgr();
      const { managers } = await managersFor(fake.run, true);
      await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: patterns });
      assert.deepEqual(
        ENTRIES.map(([num]) => num).filter((n) => !fake.nvram.some((e) => e.num === n)),
        gone,
        JSON.stringify(patterns),
      );
    }
    // The flags' meaning on text with newlines (no efibootmgr path has one): DOTALL, MULTILINE, and $ before a final newline.
    const m = (p: string, s: string) => compileMatchPatterns([p])[0]!.test(s);
    assert.equal(m('HD.File', 'HD\nFile'), false);
    assert.equal(m('(?s)HD.File', 'HD\nFile'), true);
    assert.equal(m('(?s)HD(?-s:.)File', 'HD\nFile'), false);
    assert.equal(m('^File', 'HD\nFile'), false);
    assert.equal(m('(?m)^File', 'HD\nFile'), true);
    assert.equal(m('efi$', 'shimx64.efi\n'), true);
    assert.equal(m('efi\\Z', 'shimx64.efi\n'), false);
    assert.equal(m('(?m)efi$', 'shimx64.efi\nnext'), true);
    assert.equal(m('efi$', 'shimx64.efi\nnext'), false);
    assert.equal(m('(?x)^a#b', 'a'), true);
    assert.equal(m('^a#b', 'a'), false);
    assert.equal(m('(?x)^a[#]b', 'a'), false);
    assert.equal(m('(?x)^a[#]b', 'a#b'), true);
  });

  it('{,n} is the quantifier {0,n}; in a class or escaped it stays literal text', async () => {
    const fake = fakeEfibootmgr();
    const { managers } = await managersFor(fake.run, true);
    // The PXE entry's MAC has 12 hex digits: [0-9a-f]{,12} takes them all, {,11} cannot reach the comma.
    await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: ['MAC\\([0-9a-f]{,11},'] });
    assert.equal(fake.nvram.length, ENTRIES.length);
    await managers.dispatchToManagers('clean_uefi_nvram', {}, [], { match_patterns: ['MAC\\([0-9a-f]{,12},', 'HD\\(\\d{,}2,'] });
    assert.deepEqual(
      fake.nvram.map((e) => e.num),
      ['0000', '0001', '0003', '0004', '000A'],
    );
    const m = (p: string, s: string) => compileMatchPatterns([p])[0]!.test(s);
    assert.equal(m('^x{,2}$', ''), true);
    assert.equal(m('^x{,2}$', 'xx'), true);
    assert.equal(m('^x{,2}$', 'xxx'), false);
    assert.equal(m('^x{,2}?y', 'xy'), true);
    assert.equal(m('x\\{,2\\}', 'x{,2}'), true);
    assert.equal(m('^x\\{,2\\}$', 'xx'), false);
    assert.equal(m('^[{,2}]+$', '{,}2'), true);
    assert.equal(m('^[{,2}]+$', 'x'), false);
    // A { that is no quantifier is a literal, as in Python.
    assert.equal(m('^a{x}$', 'a{x}'), true);
  });

  it('refuses, naming the pattern and the construct, what Python accepts but JavaScript cannot express, and what Python refuses', async () => {
    const fake = fakeEfibootmgr();
    const { managers } = await managersFor(fake.run, true);
    const agent = await createTestAgent({ managers: managers.managers.map((m) => m.manager) });
    for (const [pattern, why] of [
      [
        '(?-i:GRUB)X64',
        /"\(\?-i:GRUB\)X64" cannot be translated from Python's re to JavaScript: \(\?-i: turns case-insensitive matching off/,
      ],
      ['(?>HD)\\(', /"\(\?>HD\)\\\\\(" cannot be translated .*an atomic group/],
      ['HD\\(1*+', /cannot be translated .*the possessive quantifier \*\+/],
      ['\\N{DIGIT ONE}', /cannot be translated .*\\N\{\.\.\.\}/],
      ['(HD)?(?(1)\\(|File)', /cannot be translated .*a conditional group/],
      ['(?L)HD', /"\(\?L\)HD" does not compile: .*LOCALE flag L .*\(\?L\)/],
      ['HD(?i)\\(', /"HD\(\?i\)\\\\\(" does not compile: global flags not at the start of the expression: \(\?i\)/],
      ['\\qHD', /does not compile: bad escape \\q/],
    ] as const) {
      const r = await postCommand(
        agent.app,
        {
          name: 'clean.execute_clean_step',
          params: {
            step: { step: 'clean_uefi_nvram', interface: 'deploy', args: { match_patterns: ['^HD\\(', pattern] } },
            node: {},
            ports: [],
          },
        },
        '?wait=true',
      );
      assert.equal(r.json.command_status, 'FAILED', pattern);
      assert.equal(r.json.command_error.type, 'InvalidCommandParamsError');
      assert.match(r.json.command_error.details, /match_patterns\[1\]/);
      assert.match(r.json.command_error.details, why);
    }
    assert.deepEqual(fake.calls, []);
    assert.equal(fake.nvram.length, ENTRIES.length);
  });

  it('bad match_patterns fail the clean step with InvalidCommandParamsError and touch no entry', async () => {
    const fake = fakeEfibootmgr();
    const { managers } = await managersFor(fake.run, true);
    const agent = await createTestAgent({ managers: managers.managers.map((m) => m.manager) });
    for (const [patterns, why] of [
      ['^HD\\(', /got "\^HD\\\\\("/],
      [['ok', 3], /match_patterns\[1\] is 3/],
      [['(unclosed'], /match_patterns\[0\] "\(unclosed" does not compile/],
      [{ a: 1 }, /got \{"a":1\}/],
    ] as const) {
      const r = await postCommand(
        agent.app,
        {
          name: 'clean.execute_clean_step',
          params: { step: { step: 'clean_uefi_nvram', interface: 'deploy', args: { match_patterns: patterns } }, node: {}, ports: [] },
        },
        '?wait=true',
      );
      assert.equal(r.json.command_status, 'FAILED', JSON.stringify(patterns));
      assert.equal(r.json.command_error.type, 'InvalidCommandParamsError');
      assert.match(r.json.command_error.details, why);
    }
    assert.deepEqual(fake.calls, []);
    assert.equal(fake.nvram.length, ENTRIES.length);
  });

  it('in BIOS mode nothing is run and the result says why', async () => {
    const fake = fakeEfibootmgr();
    const { managers, log } = await managersFor(fake.run, false);
    const r = (await managers.dispatchToManagers('clean_uefi_nvram', {}, [], {})) as { removed: unknown[]; skipped?: string };
    assert.deepEqual(fake.calls, []);
    assert.deepEqual(r.removed, []);
    assert.match(r.skipped ?? '', /not boot in UEFI mode/);
    assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('clean_uefi_nvram')));
  });

  it('is offered as a clean step (abortable) and a deploy step, priority 0, with its argsinfo', async () => {
    const { managers } = await managersFor(fakeEfibootmgr().run, true);
    const find = async (kind: 'clean' | 'deploy') =>
      (await managers.collectSteps(kind, {}, [])).GenericHardwareManager!.find((s: Step) => s.step === 'clean_uefi_nvram');
    const clean = await find('clean');
    const deploy = await find('deploy');
    assert.equal(clean?.priority, 0);
    assert.equal(clean?.abortable, true);
    assert.equal(deploy?.priority, 0);
    assert.equal(deploy?.abortable, undefined);
    const desc = (clean!.argsinfo as { match_patterns: { description: string; required: boolean } }).match_patterns;
    assert.equal(desc.required, false);
    assert.ok(
      desc.description.includes(`'${JSON.stringify(DEFAULT_NVRAM_MATCH_PATTERNS).replace(/\\\\/g, '\\').replace(/,/g, ', ')}'`),
      desc.description,
    );
    assert.equal(
      (await managers.collectSteps('service', {}, [])).GenericHardwareManager!.some((s) => s.step === 'clean_uefi_nvram'),
      false,
    );
  });
});
