/**
 * The journal's CPU per file, alone: the calls `pyreg migrate` makes on it for N files (P per
 * project, default 10; 8 files in flight), without any network, in this process:
 *   node dist/bench/journal.js [--files N] [--runs K] [--per-project P]
 * Each run does it twice, in fresh state folders: as migrate does (each "uploading" mark committed
 * and the WAL fsynced before the upload, shared by the marks that reach it together, and marking
 * the files not started yet with it), and with the "uploading" marks queued like the
 * others (committed at most 100 ms later, no fsync of their own), so the difference is what the
 * commit and fsync before each upload cost. The second way is not something pyreg does: it is
 * measured only to tell the two costs apart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal, MARK_AHEAD } from "../src/core/journal.js";
import type { DistFile } from "../src/core/model.js";
import type { PlanEntry } from "../src/core/plan.js";

const IN_FLIGHT = 8;

interface Cost {
  planMs: number;
  transferMs: number;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

async function once(files: number, perProject: number, syncBeforeUpload: boolean): Promise<Cost> {
  const dir = mkdtempSync(join(tmpdir(), "pyreg-journal-bench-"));
  try {
    const identity = {
      source: { key: "bench-source", description: "bench source" },
      destination: { key: "bench-destination", description: "bench destination" },
    };
    const journal = Journal.open(dir, identity);
    journal.startRun({ command: "migrate", argv: [], version: "bench", source: "s", destination: "d" });
    const planStart = process.cpuUsage();
    for (let p = 0; p < files / perProject; p++) {
      const project = `project-${p}`;
      const entries: PlanEntry[] = [];
      for (let i = 0; i < perProject; i++) {
        const file: DistFile = {
          project,
          version: `1.${i}`,
          filename: `project_${p}-1.${i}-py3-none-any.whl`,
          url: `http://127.0.0.1:1/files/project_${p}-1.${i}-py3-none-any.whl`,
          hashes: { sha256: (p * perProject + i).toString(16).padStart(64, "0") },
          size: 3000,
        };
        entries.push({ file, action: "copy", reason: "not at the destination" });
      }
      journal.applyProject({ project, entries }, { retryFailed: false });
    }
    const planMs = cpuMs(planStart);
    const transferStart = process.cpuUsage();
    // Each file with the files not started yet, as the engine gives them: its projects are read
    // ahead until MARK_AHEAD files are known beyond the ones started (EngineOptions.lookahead).
    const queue: { file: DistFile; project: number }[] = [];
    let p = 0;
    for (const plan of journal.pendingProjects()) {
      for (const e of plan.entries) queue.push({ file: e.file, project: p });
      p++;
    }
    const notStarted = new Set<DistFile>();
    let read = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < queue.length) {
        const { file } = queue[next++]!;
        while (read < queue.length && read - next < MARK_AHEAD) {
          const project = queue[read]!.project;
          while (read < queue.length && queue[read]!.project === project) notStarted.add(queue[read++]!.file);
        }
        notStarted.delete(file);
        journal.mark(file, "downloaded");
        if (syncBeforeUpload) await journal.markUploading(file, Date.now() + 60_000, notStarted);
        else journal.mark(file, "uploading", { uploadAttempt: true, uploadDeadline: Date.now() + 60_000 });
        // The upload's round trip: 1-3 ms, so that marks meet in commits as they do in a run.
        await new Promise((r) => setTimeout(r, 1 + Math.random() * 2));
        journal.mark(file, "uploaded", { uploadDeadline: Date.now() });
        journal.recordOutcome({ kind: "copied", file, bytes: 3000, seconds: 0.01, verification: undefined });
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    journal.clearPending();
    journal.endRun("done", undefined, {});
    journal.close();
    return { planMs, transferMs: cpuMs(transferStart) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const files = opt("--files", 20_000);
  const runs = opt("--runs", 3);
  const perProject = opt("--per-project", 10);
  const perFile = (ms: number): string => `${((ms * 1000) / files).toFixed(1)} µs`;
  console.log(
    `journal CPU for ${files} files (${perProject} per project, ${IN_FLIGHT} in flight), per file:`,
  );
  console.log(
    "| run | plan (decisions, pending rows) | transfer, as migrate | transfer, uploading marks not synced | commit + fsync before uploads |",
  );
  console.log("|--:|--:|--:|--:|--:|");
  for (let r = 1; r <= runs; r++) {
    const synced = await once(files, perProject, true);
    const queued = await once(files, perProject, false);
    console.log(
      `| ${r} | ${perFile(synced.planMs)} | ${perFile(synced.transferMs)} | ${perFile(queued.transferMs)} | ${perFile(synced.transferMs - queued.transferMs)} |`,
    );
  }
}

await main();
