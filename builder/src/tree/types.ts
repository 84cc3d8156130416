/**
 * The assembled root filesystem: the one boundary between building (layers:
 * Debian packages, files, directories, tarballs) and packing (cpio/initramfs,
 * tar, later: customising an existing initramfs, OCI layers).
 *
 * Metadata (type, mode, owner, mtime, device numbers, link targets) lives in
 * memory; file contents live either inline (small generated files) or as a
 * path to a file on disk (usually under the tree's store directory). Nothing
 * here needs root: device nodes and foreign owners exist only as metadata.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TreeEntry {
  /** Canonical relative path: no leading '/', no '.', no '..', no trailing '/'. Never empty (the root is implicit). */
  path: string;
  type: EntryType;
  /** Permission bits only (0o7777), no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (clamped to SOURCE_DATE_EPOCH when packed). */
  mtime: number;
  /** Regular files: size in bytes. */
  size?: number;
  /** Regular files: absolute host path of the content. Exactly one of source/data is set for files. */
  source?: string;
  /** Regular files: inline content. */
  data?: Buffer;
  /** Symlinks: the target as written. Hard links: the canonical tree path of the file linked to. */
  linkTarget?: string;
  /** char/block devices. */
  rdevMajor?: number;
  rdevMinor?: number;
  /** Name of the layer that last wrote this entry (for manifests and error messages). */
  layer?: string;
}

export interface EntryAttrs {
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  layer?: string;
}
