/**
 * The systemd units the shipped elements install (elements/, builtin-elements/):
 * every setting in the section systemd reads it from. systemd ignores a key in
 * the wrong section with a warning only, so a mistake there goes unnoticed until
 * a boot misbehaves (SuccessAction= under [Service] never powered the
 * inspection ramdisk off).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SHIPPED_ELEMENTS_DIR } from './index.js';
import { BUILTIN_ELEMENTS_DIR } from './elements/runner.js';

/** Keys systemd reads only from [Unit] (systemd.unit(5)). */
const UNIT_KEYS =
  /^(Description|Documentation|Wants|Requires|Requisite|BindsTo|PartOf|Upholds|Conflicts|Before|After|OnFailure|OnSuccess|DefaultDependencies|StopWhenUnneeded|RefuseManualStart|RefuseManualStop|JobTimeoutSec|StartLimitIntervalSec|StartLimitBurst|StartLimitAction|FailureAction|SuccessAction|FailureActionExitStatus|SuccessActionExitStatus|RebootArgument|Condition\w+|Assert\w+)$/;
/** Keys of [Install] (systemd.unit(5)). */
const INSTALL_KEYS = /^(Alias|WantedBy|RequiredBy|UpheldBy|Also|DefaultInstance)$/;
/** Keys of [Service] that must not sit anywhere else (systemd.service(5), systemd.exec(5)). */
const SERVICE_KEYS =
  /^(Type|ExitType|RemainAfterExit|ExecStart|ExecStartPre|ExecStartPost|ExecStop|ExecStopPost|ExecReload|ExecCondition|Restart|RestartSec|TimeoutStartSec|TimeoutStopSec|TimeoutSec|KillMode|StandardOutput|StandardError|StandardInput|Environment|EnvironmentFile|User|Group|WorkingDirectory)$/;
/** Keys of [Path] units. */
const PATH_KEYS =
  /^(PathExists|PathExistsGlob|PathChanged|PathModified|DirectoryNotEmpty|Unit|MakeDirectory|DirectoryMode|TriggerLimitIntervalSec|TriggerLimitBurst)$/;

function unitFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.(service|path|socket|timer|target|mount)$/.test(e.name)) out.push(join(e.parentPath, e.name));
    else if (e.isFile() && e.parentPath.endsWith('.d') && /\/systemd\/system\//.test(e.parentPath) && e.name.endsWith('.conf'))
      out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

/** Every `key` with the section it is in and its line. */
function settings(text: string): { section: string; key: string; line: number }[] {
  const out: { section: string; key: string; line: number }[] = [];
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) return;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) section = s[1]!;
    else out.push({ section, key: line.split('=')[0]!.trim(), line: i + 1 });
  });
  return out;
}

test('every unit setting of the shipped elements is in the section systemd reads it from', () => {
  const files = [...unitFiles(SHIPPED_ELEMENTS_DIR), ...unitFiles(BUILTIN_ELEMENTS_DIR)];
  assert.ok(
    files.some((f) => f.endsWith('/ramforge-inspection.service')),
    files.join('\n'),
  );
  const wrong: string[] = [];
  for (const f of files) {
    for (const s of settings(readFileSync(f, 'utf8'))) {
      const want = UNIT_KEYS.test(s.key)
        ? 'Unit'
        : INSTALL_KEYS.test(s.key)
          ? 'Install'
          : SERVICE_KEYS.test(s.key)
            ? 'Service'
            : PATH_KEYS.test(s.key)
              ? 'Path'
              : undefined;
      if (want && s.section !== want) wrong.push(`${f}:${s.line}: ${s.key}= is under [${s.section}], systemd reads it from [${want}]`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the check catches a [Unit] key under [Service]', () => {
  const s = settings('[Unit]\nDescription=x\n\n[Service]\nType=oneshot\nSuccessAction=poweroff\n');
  assert.deepEqual(
    s.filter((x) => UNIT_KEYS.test(x.key) && x.section !== 'Unit').map((x) => `${x.key}@${x.line}`),
    ['SuccessAction@6'],
  );
});
