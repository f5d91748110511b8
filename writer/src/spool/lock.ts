/**
 * One writer per spool directory: an exclusive lock file holding the owner's pid. A lock whose owner
 * is gone is stale and taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";

/** Who this process is and whether another pid lives; injectable so tests can play a container restart. */
export interface LockIdentity {
  pid: number;
  isAlive(pid: number): boolean;
}

/** This process. */
export const processIdentity: LockIdentity = {
  pid: process.pid,
  isAlive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM";
    }
  },
};

/** Spool directories locked by this process. */
const lockedHere = new Set<string>();

/** A held lock. */
export interface SpoolLock {
  release(): void;
}

/** Takes the lock of `dir`, or throws naming the process that holds it. */
export function takeLock(dir: string, identity: LockIdentity = processIdentity): SpoolLock {
  const path = join(dir, "lock");
  const key = resolve(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(identity.pid));
      lockedHere.add(key);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          closeSync(fd);
          rmSync(path, { force: true });
          lockedHere.delete(key);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileSync(path, "utf8"));
      // Our own pid counts only if this process took the lock: in a container the writer is pid 1 on
      // every start, so a lock left by the previous run carries the same pid.
      const held = owner === identity.pid ? lockedHere.has(key) : identity.isAlive(owner);
      if (Number.isInteger(owner) && owner > 0 && held)
        throw new Error(`spool directory ${dir} is in use by process ${owner}`);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`cannot lock spool directory ${dir}`);
}
