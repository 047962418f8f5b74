import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Another live process (or this one) has the embedded database's folder open. */
export class DataDirInUse extends Error {}

/** The folders this process holds, so a stale lock that names our own pid (a restarted container's pid 1) is told apart. */
const held = new Set<string>();

/** The pid a lock file names (NaN when it names none; throws when the file is gone). */
const pidIn = (file: string) => Number.parseInt(readFileSync(file, 'utf8'), 10);

/** Whether `pid` is a live process that may be a flashsale server (a node process, where /proc tells). */
function liveServer(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node|tsx/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc here: alive is all we can tell
  }
}

/**
 * Takes the embedded database's folder for this process (a `flashsale.pid` file in it, as
 * Postgres's postmaster.pid): PGlite has no lock of its own, and two processes on one folder
 * (`npm start` twice, or `npm run worker` beside it) each write their own copy of the
 * database over the other's files. Throws DataDirInUse when a live process holds it; a lock
 * left by a process that died is taken over. Returns the release (also run at exit).
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'flashsale.pid');
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      let pid = 0;
      try {
        pid = pidIn(file);
      } catch {
        continue; // released meanwhile: try again
      }
      const ours = pid === process.pid;
      if ((ours && held.has(file)) || (!ours && pid > 0 && liveServer(pid))) {
        throw new DataDirInUse(
          `DATA_DIR ${dir} is in use by ${ours ? 'this process' : `process ${pid}`}: the embedded database serves one process. ` +
            'Stop that process, or give this one another DATA_DIR; to run several processes (api and worker, WORKERS), use DATABASE_URL and REDIS_URL. ' +
            `(The lock is ${file}; if that process is not a flashsale server, delete it.)`,
        );
      }
      try {
        // Left by a process that is gone; unless another starter replaced it meanwhile.
        if (pidIn(file) === pid) unlinkSync(file);
      } catch {
        // another starter took it over first: try again
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    held.add(file);
    const release = () => {
      if (!held.delete(file)) return;
      try {
        if (pidIn(file) === process.pid) unlinkSync(file);
      } catch {
        // already gone
      }
    };
    process.once('exit', release);
    return () => {
      process.removeListener('exit', release);
      release();
    };
  }
}
