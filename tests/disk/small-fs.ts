import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A filesystem of its own for a test: a size-limited tmpfs (the tests run as root), so a
 * full disk is real ENOSPC from the kernel, not a simulated one. A ballast file takes the
 * room a test wants gone and gives it back when deleted.
 */
const MiB = 1024 * 1024;

export interface SmallFs {
  readonly dir: string;
  /** Free bytes as an unprivileged writer sees them. */
  free(): number;
  /** Writes a ballast file leaving about `leaveBytes` free (0: none at all). */
  fill(leaveBytes: number): void;
  /** Deletes the ballast. */
  unfill(): void;
  unmount(): void;
}

export function mountSmallFs(sizeBytes: number): SmallFs {
  const dir = mkdtempSync(join(tmpdir(), 'arena-smallfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  const ballast = join(dir, 'ballast');
  const free = (): number => {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    free,
    fill(leaveBytes) {
      // In appends, stopping at the first ENOSPC: the hub may be writing there meanwhile.
      const append = (bytes: number): boolean => {
        try {
          writeFileSync(ballast, Buffer.alloc(bytes), { flag: 'a' });
          return true;
        } catch {
          return false;
        }
      };
      for (let left = free() - leaveBytes; left > 0; left -= MiB) if (!append(Math.min(MiB, left))) return;
      // Full means full: the last pages too, until the kernel says no.
      if (leaveBytes === 0) while (append(4096));
    },
    unfill: () => rmSync(ballast, { force: true }),
    unmount() {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
