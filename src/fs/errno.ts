/** The errno code of a failed system call (`ENOENT`, `EEXIST`, …), or undefined for other errors. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('E') ? code : undefined;
}

/** The path (or one of its folders) does not exist. */
export const isMissing = (err: unknown): boolean => errnoOf(err) === 'ENOENT';

/** link() failed because this file system has no hard links (some FUSE, SMB and FAT mounts). */
export function noHardLinks(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EMLINK';
}
