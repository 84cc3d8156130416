/**
 * How the dib flavor gets root over its build tree (issue 9, item 5):
 * as root it is root; as an ordinary user with newuidmap and a range in
 * /etc/subuid and /etc/subgid, every command that touches the tree runs
 * under `unshare --map-root-user --map-auto` (util-linux 2.38: uid 0 inside
 * is the caller, 1..65535 the first subordinate range, the mapping
 * mmdebstrap's unshare mode uses), so the tree's files keep their real
 * owners inside the namespace and chroot and mounts work there. Each
 * command gets a new namespace with the same mapping; nothing stays mapped.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { findTool } from '../../../exec/run.js';
import { chooseMode } from '../../../debian/mmdebstrap.js';

export type TreeAccess = { mode: 'root' } | { mode: 'userns'; unshare: string } | { mode: 'none'; reason: string };

/** The fix named when neither root nor a user namespace is possible. */
export const ROOTLESS_HINT =
  'run the build as root (sudo ./ramforge build ...), or install uidmap (apt-get install uidmap) and add "USER:100000:65536" to /etc/subuid and /etc/subgid';

/** Pure: the access for `uid` given what the host has. */
export function chooseAccess(
  uid: number,
  user: string,
  unshare: string | undefined,
  hasNewuidmap: boolean,
  subuid: string | undefined,
): TreeAccess {
  if (uid === 0) return { mode: 'root' };
  const base = chooseMode(uid, user, hasNewuidmap, subuid);
  if (base.mode === 'none')
    return {
      mode: 'none',
      reason: `runs element scripts in a chroot, which as uid ${uid} needs a user namespace: ${base.reason.replace(/^building a Debian base as \S+ needs /, 'missing ')}`,
    };
  if (!unshare) return { mode: 'none', reason: `runs element scripts in a chroot, which as uid ${uid} needs unshare (util-linux)` };
  return { mode: 'userns', unshare };
}

/** The access of this process. */
export function treeAccess(): TreeAccess {
  const uid = process.getuid?.() ?? 0;
  let subuid: string | undefined;
  try {
    subuid = readFileSync('/etc/subuid', 'utf8');
  } catch {
    subuid = undefined;
  }
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? String(uid);
  }
  return chooseAccess(uid, user, findTool('unshare'), findTool('newuidmap') !== undefined, subuid);
}

/** The flags that put a command in the build's user namespace (none as root). */
export function userFlags(access: TreeAccess): string[] {
  return access.mode === 'userns' ? ['--map-root-user', '--map-auto'] : [];
}

/** `argv` as root over the tree: as is for root, wrapped in `unshare` in the user namespace. */
export function asTreeRoot(access: TreeAccess, argv: string[]): string[] {
  return access.mode === 'userns' ? [access.unshare, ...userFlags(access), '--', ...argv] : argv;
}
