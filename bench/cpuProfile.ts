/**
 * Where a process's CPU went, from a `node --cpu-prof` profile (V8's .cpuprofile JSON):
 *   node dist/bench/cpuProfile.js FILE.cpuprofile [--top N] [--json]
 * Each sample is given to the innermost frame of the stack that belongs to a known part (pyreg's
 * journal, the upload form, undici, the digests, ...): frames of Node's own modules (streams,
 * sockets, fs) and native functions count for the part that called them. Idle samples are left
 * out; the garbage collector and unattributed native work are parts of their own.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The parts, tried in order on a frame's URL (the first that matches names it). */
const PARTS: [string, RegExp][] = [
  ["digests (sha256, md5, BLAKE2b)", /hash-wasm|\/src\/core\/hash\.js|node:internal\/crypto\/hash/],
  ["journal (SQLite)", /\/src\/core\/journal|better-sqlite3|\/src\/core\/usecases\/state\.js/],
  ["upload form (multipart)", /\/src\/core\/uploadForm\.js/],
  ["metadata reading (zip, tar)", /\/src\/core\/metadata\.js|yauzl|tar-stream|node:zlib/],
  ["index pages (parsing, listing)", /\/src\/registries\/|htmlparser2|\/src\/core\/digests\.js/],
  ["planning", /\/src\/core\/plan\.js|\/src\/core\/select\//],
  ["report", /\/src\/core\/report\.js/],
  ["http client (pyreg)", /\/src\/http\//],
  ["undici", /undici/],
  ["engine (per-file steps)", /\/src\/core\/engine\.js|\/src\/core\/pool\.js|\/src\/core\/batchedWriter\.js/],
  ["events, progress, output", /\/src\/cli\/|\/src\/core\/usecases\//],
  ["pyreg serve (server)", /\/src\/server\/|\/busboy\/|\/streamsearch\//],
  ["other pyreg code", /\/src\//],
  ["other packages", /node_modules/],
];

/** Frames that count for their caller's part (Node's modules, natives, anonymous). */
function inherits(url: string): boolean {
  return url === "" || url.startsWith("node:");
}

export interface ProfileSummary {
  /** Sampled seconds, idle left out. */
  busySeconds: number;
  parts: { part: string; seconds: number; share: number }[];
  top: { fn: string; where: string; seconds: number }[];
}

export function summarizeProfile(p: Profile, topN = 25): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const partOf = new Map<number, string>();
  const part = (id: number): string => {
    const known = partOf.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    const { functionName: fn, url } = n.callFrame;
    let name: string;
    if (fn === "(garbage collector)") name = "garbage collector";
    else if (fn === "(idle)") name = "(idle)";
    else if (fn === "(program)") name = "native, unattributed (program)";
    else if (fn === "(root)") name = "node internals (event loop, streams, sockets, fs)";
    else if (inherits(url)) {
      const up = parent.get(id);
      name = up === undefined ? "node internals (event loop, streams, sockets, fs)" : part(up);
    } else name = PARTS.find(([, re]) => re.test(url))?.[0] ?? "other";
    partOf.set(id, name);
    return name;
  };
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    // Each delta is the time before the sample; the next one's delta is this sample's duration.
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const parts = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const name = part(id);
    if (name === "(idle)") continue;
    busy += us;
    parts.set(name, (parts.get(name) ?? 0) + us);
    const cf = byId.get(id)!.callFrame;
    const key = `${cf.functionName || "(anonymous)"}\t${cf.url.replace(/^.*\/(node_modules|dist)\//, "$1/")}:${cf.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  return {
    busySeconds: busy / 1e6,
    parts: [...parts]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ part: name, seconds: us / 1e6, share: busy ? us / busy : 0 })),
    top: [...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([k, us]) => {
        const [fn, where] = k.split("\t") as [string, string];
        return { fn, where, seconds: us / 1e6 };
      }),
  };
}

export function formatSummary(s: ProfileSummary, files?: number): string {
  const per = (sec: number): string => (files ? ` ${((sec * 1000) / files).toFixed(3)} ms/file` : "");
  return [
    `busy ${s.busySeconds.toFixed(2)} s (idle left out)${files ? `, ${files} files` : ""}`,
    ...s.parts.map(
      (p) =>
        `  ${p.seconds.toFixed(2).padStart(7)} s ${(p.share * 100).toFixed(1).padStart(5)} %${per(p.seconds)}  ${p.part}`,
    ),
    "top functions (self time):",
    ...s.top.map((t) => `  ${t.seconds.toFixed(2).padStart(7)} s  ${t.fn}  ${t.where}`),
  ].join("\n");
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith("--"));
  if (!file) {
    process.stderr.write("usage: cpuProfile FILE.cpuprofile [--top N] [--files N] [--json]\n");
    process.exit(2);
  }
  const opt = (k: string): number | undefined => {
    const i = args.indexOf(k);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const s = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as Profile, opt("--top") ?? 25);
  process.stdout.write(
    (args.includes("--json") ? JSON.stringify(s, null, 2) : formatSummary(s, opt("--files"))) + "\n",
  );
}

if (process.argv[1] && /cpuProfile\.js$/.test(process.argv[1])) main();
