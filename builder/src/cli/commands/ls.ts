import { listInitramfs } from '../../archive/initramfs-list.js';
import { CliUsageError, humanSize, parseFlags } from '../args.js';
import { UserError } from '../../errors.js';
import { statSync } from 'node:fs';

const USAGE = `ramforge ls INITRAMFS [--json] [--members]

List an initramfs: each member (offset, compression, size) and every file
(mode, owner, size, path). Reads concatenated members, compressed with gzip,
xz, zstd, lz4, lzma, bzip2 or not at all.

Options:
  --members    list the members only
  --json       machine-readable listing on stdout
  --debug      print every command run and stack traces
  -h, --help   this help`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, { json: { type: 'boolean' }, members: { type: 'boolean' } }, USAGE, true);
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [file] = positionals;
  if (!file || positionals.length > 1) throw new CliUsageError('name exactly one initramfs', `usage: ${USAGE.split('\n')[0]}`);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file, { throwIfNoEntry: false });
  } catch (e) {
    throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      hint: 'check the path and its permissions',
    });
  }
  if (!st) throw new UserError(`${file} does not exist`);
  if (!st.isFile())
    throw new UserError(`${file} is not a file`, { hint: 'name an initramfs file (e.g. output/tinyipa/tinyipa.initramfs)' });
  const members = await listInitramfs(file);
  if (members.length === 0)
    throw new UserError(`${file} holds no initramfs member (${st.size === 0 ? 'it is empty' : 'only zero padding'})`, {
      hint: 'name an initramfs file (e.g. output/tinyipa/tinyipa.initramfs)',
    });
  if (v.json) {
    process.stdout.write(
      JSON.stringify(v.members ? members.map(({ entries, ...m }) => ({ ...m, files: entries.length })) : members, null, 2) + '\n',
    );
    return 0;
  }
  const out: string[] = [];
  for (const m of members) {
    out.push(`# member ${m.index}: offset ${m.offset}, ${m.compression}, ${humanSize(m.compressedSize)}, ${m.entries.length} entries`);
    if (v.members) continue;
    for (const e of m.entries) {
      const mode = (e.mode & 0o7777).toString(8).padStart(4, '0');
      const link = e.linkTarget ? ` -> ${e.linkTarget}` : '';
      out.push(
        `${e.type.padEnd(8)} ${mode} ${String(e.uid).padStart(5)}:${String(e.gid).padEnd(5)} ${String(e.size).padStart(10)}  ${e.path}${link}`,
      );
    }
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
