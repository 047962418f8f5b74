import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Another live process (or this one) has the embedded database's folder open. */
export class DataDirInUse extends Error {}

/** The folders this process holds, so a stale lock that names our own pid (a restarted container's pid 1) is told apart. */
const held = new Set<string>();

/** What a lock file says: `<pid> [<start time>]` (NaN pid when it names none; throws when the file is gone). */
function lockIn(file: string): { pid: number; started?: string } {
  const [pid, started] = readFileSync(file, 'utf8').trim().split(/\s+/);
  return { pid: Number.parseInt(pid, 10), started };
}
const pidIn = (file: string) => lockIn(file).pid;

/**
 * When process `pid` started, in clock ticks since boot (/proc/<pid>/stat, field 22): with the pid
 * it names one process for good, where a pid alone may be reused by another after a crash.
 * Undefined without /proc or when there is no such process.
 */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the lock's process is alive: the same start time where both are known, else a live node process (where /proc tells). */
function liveServer(pid: number, started: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTimeOf(pid);
  if (started !== undefined && now !== undefined) return now === started;
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
      let started: string | undefined;
      try {
        ({ pid, started } = lockIn(file));
      } catch {
        continue; // released meanwhile: try again
      }
      const ours = pid === process.pid;
      if ((ours && held.has(file)) || (!ours && pid > 0 && liveServer(pid, started))) {
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
    // The start time too, so a later process that happens to get this pid is not taken for us.
    const started = startTimeOf(process.pid);
    writeSync(fd, started === undefined ? `${process.pid}\n` : `${process.pid} ${started}\n`);
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
