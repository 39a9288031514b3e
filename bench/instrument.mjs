// Loaded into the daemon by the benchmark (`node --import bench/instrument.mjs bin/hookwarden.js run …`).
// It changes nothing the daemon does; it only watches:
//   - every SQL statement sent to Postgres (pg's Client.prototype.query, which Prisma's pg
//     adapter and the store's own queries go through), in total and per reconcile pass;
//   - every reconcile pass (Reconciler.prototype.pass): account, start, end, SQL statements
//     issued within it (followed through its async calls), when it had planned, actions taken, and the process's
//     CPU time, SQL count and resident memory at its start and end;
//   - the process's CPU time and memory (resident now, and its high-water mark).
// It serves them as JSON on 127.0.0.1:$BENCH_INSTRUMENT_PORT:
//   GET /snapshot            counters now (and the event-loop stalls so far)
//   GET /passes?from=N       pass records N onwards
// With $BENCH_PROFILE_DIR set (bench --profile) it also samples the heap from the start, and:
//   GET /profile/start       starts the CPU profiler
//   GET /profile/stop?name=N writes N.cpuprofile, and N.heapprofile (what was allocated since
//                            the start and is still alive) to that directory
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const als = new AsyncLocalStorage();
let sql = 0;
const passes = [];

// A pool hands a free connection to a waiting caller from whoever released it: bind the
// waiting callback to its caller, so that its statements are counted for the right pass.
const connect = pg.Pool.prototype.connect;
pg.Pool.prototype.connect = function (cb) {
  return connect.call(this, typeof cb === 'function' ? AsyncResource.bind(cb) : cb);
};

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  sql++;
  const pass = als.getStore();
  if (pass) pass.sql++;
  return query.apply(this, args);
};

// The daemon's compiled code: this checkout's dist/, or the one $BENCH_DIST names (bench --daemon DIR).
const dist = process.env.BENCH_DIST ? pathToFileURL(`${process.env.BENCH_DIST}/`) : new URL('../dist/', import.meta.url);
const { Reconciler } = await import(new URL('reconcile/reconciler.js', dist).href);
const { Executor } = await import(new URL('reconcile/executor.js', dist).href);

// The pass has planned (its actions are fixed) once it starts executing them.
const run = Executor.prototype.run;
Executor.prototype.run = function (...args) {
  const rec = als.getStore();
  if (rec && !rec.planned) rec.planned = Date.now();
  return run.apply(this, args);
};
const pass = Reconciler.prototype.pass;
Reconciler.prototype.pass = function (account, opts) {
  const rec = { account, start: Date.now(), planned: 0, end: 0, sql: 0, actions: 0, records: 0, renewals: 0, skipped: false, error: false, cpu0: cpuSeconds(), cpu1: 0, sql0: sql, sql1: 0, rss1: 0 };
  passes.push(rec);
  const done = (r) => {
    rec.end = Date.now();
    rec.cpu1 = cpuSeconds();
    rec.sql1 = sql;
    rec.rss1 = process.memoryUsage.rss();
    if (r) {
      rec.actions = r.actions.filter((a) => a.action !== 'none').length;
      rec.records = r.actions.filter((a) => a.action === 'none' && a.record).length;
      rec.renewals = r.actions.filter((a) => (a.action === 'renew' || a.action === 'reactivate') && a.outcome === 'succeeded').length;
      rec.skipped = Boolean(r.skipped);
      rec.error = Boolean(r.error);
    } else rec.error = true;
  };
  return als.run(rec, () => pass.call(this, account, opts)).then(
    (r) => (done(r), r),
    (err) => {
      done(undefined);
      throw err;
    },
  );
};

function cpuSeconds() {
  const cpu = process.cpuUsage();
  return (cpu.user + cpu.system) / 1e6;
}

// Event-loop stalls (as bench/stalls.ts records them in the bench process): a timer due
// every 50 ms that fires more than 250 ms late.
const stalls = [];
{
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - 50 > 250) stalls.push({ at: Date.now() - (now - last), ms: Math.round(now - last) });
    last = now;
  }, 50).unref();
}

const snapshot = () => {
  return {
    at: Date.now(),
    sql,
    passes: passes.length,
    cpuSeconds: cpuSeconds(),
    rssBytes: process.memoryUsage.rss(),
    memory: process.memoryUsage(),
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    stalls,
  };
};

const profileDir = process.env.BENCH_PROFILE_DIR;
let session;
if (profileDir) {
  session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 65536 });
  await session.post('Profiler.enable');
}

async function profile(u) {
  if (!session) return { error: 'no profiling (BENCH_PROFILE_DIR unset)' };
  if (u.pathname === '/profile/start') {
    await session.post('Profiler.start');
    return { started: true };
  }
  const name = u.searchParams.get('name') ?? 'profile';
  const { profile: cpu } = await session.post('Profiler.stop');
  writeFileSync(`${profileDir}/${name}.cpuprofile`, JSON.stringify(cpu));
  const { profile: heap } = await session.post('HeapProfiler.getSamplingProfile');
  writeFileSync(`${profileDir}/${name}.heapprofile`, JSON.stringify(heap));
  return { written: name };
}

const port = Number(process.env.BENCH_INSTRUMENT_PORT);
if (port) {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://bench');
    const answer = (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u.pathname.startsWith('/profile/')) {
      profile(u).then(answer, (err) => answer({ error: String(err) }));
      return;
    }
    answer(u.pathname === '/passes' ? passes.slice(Number(u.searchParams.get('from') ?? 0)) : snapshot());
  });
  server.listen(port, '127.0.0.1');
  server.unref();
}
