/**
 * The engine: the files to copy go through stages, each in its own module under ./engine/:
 * download (stream from the source while hashing, check the source's strongest digest) →
 * inspect (read the core metadata the upload form needs) → upload (the form twine sends; an
 * ambiguous failure reads the index before any resend) → check (after the project's uploads, read
 * its destination index again and confirm each file by the strongest digest it shares with the
 * bytes sent, or by reading the file back where the index cannot decide or cannot be trusted,
 * src/core/digests.ts). Projects come one at a time from an iterable (a streamed run reads them
 * from the journal), so memory holds the projects in flight, not the plan. Each file ends in
 * exactly one outcome, given to the caller as an event.
 */
import { unlink } from "node:fs/promises";
import { join } from "node:path";
import { decisiveDigest, strongestDigest, formatVerification } from "./digests.js";
import { classOf, errorMessage, isFatal, PyregError } from "./errors.js";
import { FAILURE_POLICY } from "./failure.js";
import { checkMetadataMatchesFilename, metadataFromFilename, readCoreMetadata } from "./metadata.js";
import type { CoreMetadata, Destination, DistFile, FileOutcome, LocalDist, Source } from "./model.js";
import { parseFilename } from "./names.js";
import type { PlanEntry, ProjectPlan } from "./plan.js";
import { Pool } from "./pool.js";
import { checkProject, type Uploaded } from "./engine/check.js";
import { confirm } from "./engine/confirm.js";
import { download } from "./engine/download.js";
import { keptInMemory, makeRunTemp, MEMORY_BUDGET, MEMORY_FILE_MAX, removeRunTemp } from "./engine/temp.js";
import { send } from "./engine/upload.js";
import {
  Stop,
  type EngineEvent,
  type EngineOptions,
  type MigrationResult,
  type RunContext,
} from "./engine/types.js";

export type { EngineEvent, EngineOptions, MigrationResult } from "./engine/types.js";
export { entryOutcome } from "./engine/outcomes.js";

/** The work of a run: projects with files to copy, and what the live line needs to know first. */
export interface Work {
  /** Projects in the order to start them; only their "copy" entries are transferred. */
  projects: AsyncIterable<ProjectPlan> | Iterable<ProjectPlan>;
  /** The files to copy, their listed bytes, and how many of them the index gives no size for. */
  files: number;
  bytes: number;
  unknownSizes: number;
  /**
   * Digests the destination's listings publish (seen while planning): computed from every file as
   * it streams, so that an upload can be confirmed from the index.
   */
  destinationDigests?: Iterable<string> | undefined;
}

function digestNames(d: { name: string } | undefined): string[] {
  return d ? [d.name] : [];
}

/** The download stage with its retries: how often is the failure policy's, by the error's class. */
async function fetchFile(
  ctx: RunContext,
  entry: PlanEntry,
  tmp: string,
  inMemoryMax: number,
  destinationDigests: ReadonlySet<string>,
): Promise<LocalDist> {
  const file = entry.file;
  for (let attempt = 1; ; attempt++) {
    try {
      return await download(
        ctx.source,
        file,
        tmp,
        (n) => ctx.emit({ type: "bytes", file, bytes: n }),
        inMemoryMax,
        ctx.destination.needsMetadata,
        [
          // Only the digests that decide: the source's strongest, the destination's listing's.
          ...digestNames(strongestDigest(file)),
          ...digestNames(entry.destination ? decisiveDigest(entry.destination.hashes) : undefined),
          ...destinationDigests,
        ],
      );
    } catch (err) {
      if (isFatal(err) || attempt >= FAILURE_POLICY[classOf(err)].downloadAttempts) throw err;
      // File-level retry (pnpm's tarball fetcher): a cut or corrupted download is fetched again.
      ctx.emit({ type: "retry", stage: "download", file, reason: errorMessage(err) });
      await unlink(tmp).catch(() => undefined);
    }
    ctx.checkStop();
  }
}

/**
 * The destination lists this name with no decisive digest the source publishes: decided from the
 * bytes now known (their digest computed as they streamed, or the destination's bytes read back).
 */
async function decideFromBytes(
  ctx: RunContext,
  entry: PlanEntry & { destination: DistFile },
  local: LocalDist,
): Promise<void> {
  const file = entry.file;
  const r = await confirm(ctx.destination, local, entry.destination, false);
  if (r.ok) {
    ctx.record({
      kind: "skipped",
      file,
      reason: `already at the destination (${formatVerification(r.verification)} equal to the source's)`,
      verification: r.verification,
    });
  } else {
    ctx.record({
      kind: "conflict",
      file,
      reason: `the destination has this filename with other bytes (${r.digest} ${r.have.slice(0, 12)}… by its ${r.by === "index" ? "index" : "downloaded content"}); left alone`,
      ...(r.digest === "sha256" ? { destinationSha256: r.have } : {}),
    });
  }
}

/** The inspect stage: the core metadata the upload form carries, checked against the filename. */
async function inspect(file: DistFile, local: LocalDist, tmp: string): Promise<CoreMetadata> {
  const parsed = parseFilename(file.filename);
  // Windows installers: the name and version of the filename (their archive is not read).
  const meta =
    (parsed && metadataFromFilename(parsed)) ?? (await readCoreMetadata(local.data ?? tmp, file.filename));
  if (parsed) checkMetadataMatchesFilename(meta, parsed);
  return meta;
}

function copies(p: ProjectPlan): PlanEntry[] {
  return p.entries.filter((e) => e.action === "copy");
}

/**
 * The projects of a run, read from its iterable one at a time and, before one is given out, ahead
 * until the projects read but not given out hold `lookahead` files to copy. Their files join
 * `notStarted` as they are read.
 */
class ReadAhead {
  private readonly iterator: AsyncIterator<ProjectPlan> | Iterator<ProjectPlan>;
  private readonly read: { plan: ProjectPlan; files: number }[] = [];
  private files = 0;
  private ended = false;
  /** Takes one after the other: the iterable is read by one caller at a time. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    projects: Work["projects"],
    private readonly notStarted: Set<DistFile>,
    private readonly lookahead: number,
  ) {
    this.iterator = (
      Symbol.asyncIterator in projects
        ? (projects as AsyncIterable<ProjectPlan>)[Symbol.asyncIterator]()
        : (projects as Iterable<ProjectPlan>)[Symbol.iterator]()
    ) as AsyncIterator<ProjectPlan> | Iterator<ProjectPlan>;
  }

  /** The next project to transfer (undefined at the end). Projects with an error are passed over. */
  take(): Promise<ProjectPlan | undefined> {
    const next = this.turn.then(() => this.next());
    this.turn = next.catch(() => undefined);
    return next;
  }

  private async next(): Promise<ProjectPlan | undefined> {
    while (!this.ended && (this.read.length === 0 || this.files < this.lookahead)) {
      const got = await this.iterator.next();
      if (got.done) {
        this.ended = true;
        break;
      }
      if (got.value.error) continue;
      const toCopy = copies(got.value);
      for (const e of toCopy) this.notStarted.add(e.file);
      this.read.push({ plan: got.value, files: toCopy.length });
      this.files += toCopy.length;
    }
    const first = this.read.shift();
    if (first) this.files -= first.files;
    return first?.plan;
  }
}

export async function transfer(
  work: Work,
  source: Source,
  destination: Destination,
  opts: EngineOptions,
): Promise<MigrationResult> {
  const emit = (e: EngineEvent): void => opts.onEvent?.(e);
  const pool = new Pool(opts.concurrency);
  // Files to copy not started yet, of the projects in hand and of those read ahead, in the order
  // the pool will start them (its queue is first in, first out); each leaves as it starts.
  const notStarted = new Set<DistFile>();
  const inMemoryMax = Math.min(MEMORY_FILE_MAX, Math.floor(MEMORY_BUDGET / opts.concurrency));
  const tmpRoot = await makeRunTemp(opts.tmpDir);
  let stopped: MigrationResult["stopped"];
  const stopping = (): boolean => {
    if (!stopped && opts.signal?.aborted) stopped = { reason: "interrupted" };
    return stopped !== undefined;
  };
  const run: RunContext = {
    source,
    destination,
    emit,
    record: (o) => emit({ type: "outcome", outcome: o }),
    verifyAttempts: opts.verifyAttempts ?? 4,
    verifyDelayMs: opts.verifyDelayMs ?? 500,
    checkStop: () => {
      if (stopping()) throw new Stop();
    },
    notStarted,
  };
  const destinationDigests = new Set<string>([
    ...(destination.indexDigests ?? []),
    ...(work.destinationDigests ?? []),
  ]);
  const contentAlways = opts.verifyContent === true || destination.indexEchoesClientDigest === true;
  emit({ type: "start", files: work.files, bytes: work.bytes, unknownSizes: work.unknownSizes });

  const copyOne = async (ctx: RunContext, entry: PlanEntry): Promise<Uploaded | undefined> => {
    const file = entry.file;
    // Once the run is stopping, files not started are left alone (a Stop thrown here, outside the
    // try below, would reject the whole project).
    if (stopping()) return undefined;
    emit({ type: "file-start", file });
    const started = Date.now();
    const tmp = join(tmpRoot, `${Math.random().toString(36).slice(2)}-${file.filename}`);
    try {
      const local = await fetchFile(ctx, entry, tmp, inMemoryMax, destinationDigests);
      emit({ type: "downloaded", file, local });
      if (entry.destination) {
        await decideFromBytes(ctx, entry as PlanEntry & { destination: DistFile }, local);
        return undefined;
      }
      const meta = destination.needsMetadata ? await inspect(file, local, tmp) : undefined;
      ctx.checkStop();
      const sent = await send(ctx, file, local, meta, opts.beforeUpload);
      if ("conflict" in sent) {
        ctx.record(sent.conflict);
        return undefined;
      }
      emit({ type: "uploaded", file });
      return { entry, local, seconds: (Date.now() - started) / 1000, via: sent.via, answer: sent.answer };
    } catch (err) {
      if (err instanceof Stop) return undefined;
      if (isFatal(err) || FAILURE_POLICY[classOf(err)].stopsRun) {
        stopped ??= { reason: errorMessage(err), error: err };
        // A refusal of the credentials is an answer: this file was not stored.
        if (classOf(err) === "auth") emit({ type: "unsent", file, reason: errorMessage(err) });
        return undefined;
      }
      const e = err instanceof PyregError ? err : undefined;
      ctx.record({
        kind: "failed",
        file,
        reason: errorMessage(err),
        code: e?.code ?? "ERROR",
        class: classOf(err),
        ...(e?.serverAnswer ? { serverAnswer: e.serverAnswer } : {}),
      });
      return undefined;
    } finally {
      // Files kept in memory never had a temporary file.
      if (!keptInMemory(file, inMemoryMax)) await unlink(tmp).catch(() => undefined);
    }
  };

  const runProject = async (p: ProjectPlan): Promise<void> => {
    const outcomes: FileOutcome[] = [];
    const toCopy = copies(p);
    const ctx: RunContext = {
      ...run,
      record: (o) => {
        outcomes.push(o);
        run.record(o);
      },
    };
    const results = await Promise.all(
      toCopy.map((e) =>
        pool.run(() => {
          notStarted.delete(e.file);
          return copyOne(ctx, e);
        }),
      ),
    );
    const done = results.filter((r): r is Uploaded => r !== undefined);
    if (done.length) await checkProject(ctx, p.project, done, pool, contentAlways);
    await opts.onProjectDone?.(p, outcomes);
  };

  try {
    // A few projects at a time, pulled from the iterable as slots free up (and `lookahead` files
    // ahead of them): memory stays bounded by the pool, not by the number of projects or files.
    const ahead = new ReadAhead(work.projects, notStarted, opts.lookahead ?? 0);
    const workers = Array.from({ length: Math.max(2, opts.concurrency) }, async () => {
      for (;;) {
        if (stopping()) return;
        const next = await ahead.take();
        if (!next) return;
        await runProject(next);
      }
    });
    await Promise.all(workers);
  } finally {
    await removeRunTemp(tmpRoot);
  }
  stopping();
  return { stopped };
}
