import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Garbage-collector settings for the pyreg process (bin/pyreg applies them before loading the
 * rest; the library never changes them). Measured with `pyreg migrate` of 50,000 small files from
 * the benchmark's synthetic registry (bench/synthetic.ts; `--trace-gc`, /usr/bin/time):
 *
 * | settings | user + system CPU s | peak RSS |
 * | --no-incremental-marking, --semi-space-growth-factor=1 (the settings before) | 52.6 + 9.1 | 637 MB |
 * | V8's incremental marking | 42.8 + 7.8 | 169 MB |
 * | incremental marking, young generation up to 16 MB | 36.6 + 7.1 | 215 MB |
 *
 * The young generation's limit is 8 MB since 219024c: 20,000 small files cost the same client CPU
 * with 8 MB as with 16 (25.8 and 25.8 CPU s against 25.2 and 25.9, the two builds alternated on the
 * same registries). A first pair of runs of the benchmark's default corpus (2,000 files of up to
 * 24 MiB) peaked at 182 and 185 MiB RSS with 8 MB against 194 and 201 MiB with 16, but four more
 * runs with 4 MB and 8 MB peaked at 193-199 MiB for both: the limit does not set that peak. At the
 * peak (process.memoryUsage() sampled every 20 ms) the V8 heap was 57-60 MB, ArrayBuffers of files
 * in flight or not yet collected 7-60 MB, and loading the CLI alone takes 91 MiB.
 *
 * What a migration keeps alive is small and flat (about 20-25 MB after a full collection, whatever
 * the number of files: the plan waits in the journal). Without incremental marking V8 collects the
 * old generation only when an allocation fails, so the garbage promoted in between (objects of
 * files in flight, promoted by a young generation kept small) set the peak: 401 MB of heap before
 * a collection that left 23 MB, at 100,000 files, and a peak that grew with the run.
 *
 * --max-semi-space-size=8. A young generation of up to 8 MB (each of its two halves) lets the
 * objects of a file in flight die young instead of being promoted.
 *
 * --heap-growing-percent=50. After each full collection V8 lets the old generation grow to 1.5×
 * what survived it before the next one (without it, V8 picks a factor between 1.1 and 4 from how
 * fast it collects against how fast the program allocates, so the peak depends on the load).
 *
 * The flags are read by V8 each time it decides, so setting them at start-up takes effect;
 * checked with --trace-gc. Node documents setFlagsFromString after start-up as unsupported in
 * general. A user who passes their own flag for either keeps it.
 */
export function preferThroughputGc(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  if (!/semi[-_]space/.test(given)) setFlagsFromString("--max-semi-space-size=8");
  if (!/heap[-_]growing[-_]percent/.test(given)) setFlagsFromString("--heap-growing-percent=50");
}

let incrementalMarkingOff = false;

/**
 * For commands that read index pages or a journal and transfer no file (plan, verify without
 * --content, report): the young generation keeps the size it has (--semi-space-growth-factor=1,
 * read by V8 each time it would grow it). Their objects die young at any size, and a young
 * generation let grow to 16 MB only showed in long runs: `pyreg plan --json` peaked at 124 MiB RSS
 * at 10,000 files and 172 MiB at 1,000,000 with it, against 115 and 129 MiB without.
 */
export function preferSmallYoungGeneration(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  if (!/semi[-_]space[-_]growth/.test(given)) setFlagsFromString("--semi-space-growth-factor=1");
}

/**
 * Before a report is written: reports are streamed from the journal (src/core/report.ts), so
 * every object they make is short-lived and the young generation stays pinned; incremental
 * marking comes back on, so that the old generation is collected as the report's garbage reaches
 * it instead of growing to V8's limit first. `pyreg report` of 200,000 files (153 MB of JSON):
 * peak RSS 717 MB with the young generation let grow and no incremental marking (the settings
 * before reports were streamed), 255 MB with incremental marking alone, 211 MB with both changes.
 *
 * --heap-growing-percent=50: after each full collection V8 lets the old generation grow to 1.5×
 * what survived it before the next one (V8 picks a factor between 1.1 and 4 from how fast it
 * collects against how fast the program allocates, so the peak otherwise depends on the
 * machine's load). The little a report's pieces leave in the old generation is collected sooner:
 * `pyreg report` of 200,000 files, 120 MiB peak RSS without it, 97 MiB with it, at the same CPU
 * time (bench/README.md, "Memory curve").
 */
export function preferBoundedHeap(): void {
  preferSmallYoungGeneration();
  if (incrementalMarkingOff) setFlagsFromString("--incremental-marking");
  incrementalMarkingOff = false;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  if (/heap[-_]growing[-_]percent/.test(given)) return;
  setFlagsFromString("--heap-growing-percent=50");
  // The limit in force was set by the last full collection, before the flag (V8 sets it at each
  // one): one full collection now sets it from what is live as the report starts. The gc function
  // is given to contexts made while --expose-gc is set (https://nodejs.org/api/vm.html, and V8's
  // flag); the flag is set back at once.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  setFlagsFromString("--no-expose-gc");
  gc();
}

/**
 * For commands that hold a constant set of live objects while they read a large source (plan): on
 * top of preferBoundedHeap, the old generation may grow by 20 % over what the last full collection
 * kept, instead of V8's default (up to about 4 times when collections are cheap). `pyreg plan
 * --json` of 200,000 files (live heap about 20 MB): peak RSS 545 MB with the migrate settings,
 * 189 MB with incremental marking back on, 121 MB with both.
 */
export function preferSmallHeap(): void {
  preferBoundedHeap();
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ""].join(" ");
  if (!/heap[-_]growing[-_]percent/.test(given)) setFlagsFromString("--heap-growing-percent=20");
}
