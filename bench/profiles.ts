import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * bench --profile: the daemon's CPU profiles (V8 .cpuprofile) and sampled heap profiles
 * (.heapprofile: what was allocated since the daemon started and is still alive), boiled down
 * to the heaviest functions and modules, so that the JSON says where the time and memory go.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuNode {
  id: number;
  callFrame: CallFrame;
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** The package (node_modules/…), the daemon's own directory (dist/…), or Node's internals. */
function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const dist = /\/dist\/([^/]+)\//.exec(url);
  if (dist) return `hookwarden ${dist[1]}`;
  if (url.startsWith('node:')) return 'node';
  return url.replace(/^.*\//, '');
}

const keyOf = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}`;

function top(m: Map<string, number>, n: number, scale: number, total: number): { name: string; value: number; share: number }[] {
  return [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, v]) => ({ name, value: Math.round((v / scale) * 10) / 10, share: Math.round((v / total) * 1000) / 1000 }));
}

export function summariseProfiles(dir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const file of readdirSync(dir).sort()) {
    const path = join(dir, file);
    if (file.endsWith('.cpuprofile')) {
      const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: CpuNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
      const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
      const fns = new Map<string, number>();
      const mods = new Map<string, number>();
      let busy = 0;
      p.samples.forEach((id, i) => {
        const f = byId.get(id)!;
        const dt = p.timeDeltas[i] ?? 0;
        if (f.functionName === '(idle)') return;
        busy += dt;
        fns.set(keyOf(f), (fns.get(keyOf(f)) ?? 0) + dt);
        const m = moduleOf(f.url, f.functionName);
        mods.set(m, (mods.get(m) ?? 0) + dt);
      });
      out[file.replace('.cpuprofile', ' cpu')] = {
        seconds: Math.round((p.endTime - p.startTime) / 1e5) / 10,
        busySeconds: Math.round(busy / 1e5) / 10,
        modulesMs: top(mods, 15, 1000, busy),
        functionsMs: top(fns, 25, 1000, busy),
      };
    } else if (file.endsWith('.heapprofile')) {
      const p = JSON.parse(readFileSync(path, 'utf8')) as { head: HeapNode };
      const fns = new Map<string, number>();
      const mods = new Map<string, number>();
      let total = 0;
      const walk = (n: HeapNode) => {
        if (n.selfSize) {
          total += n.selfSize;
          fns.set(keyOf(n.callFrame), (fns.get(keyOf(n.callFrame)) ?? 0) + n.selfSize);
          const m = moduleOf(n.callFrame.url, n.callFrame.functionName);
          mods.set(m, (mods.get(m) ?? 0) + n.selfSize);
        }
        for (const c of n.children) walk(c);
      };
      walk(p.head);
      out[file.replace('.heapprofile', ' heap')] = { liveMB: Math.round(total / 1048576), modulesMB: top(mods, 15, 1048576, total), functionsMB: top(fns, 25, 1048576, total) };
    }
  }
  return out;
}
