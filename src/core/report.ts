/**
 * Reports, built from the journal only: what happened to every file over all runs of one migration (or of all its shards),
 * rendered as JSON for machines and Markdown for people.
 */
import { PyregError } from "./errors.js";
import type {
  CheckRow,
  FileRow,
  FileState,
  FileTally,
  Identity,
  JournalData,
  NotCarried,
  NotCarriedRow,
  ReportSource,
  RunRow,
} from "./journal/types.js";

import { jsonPieces, Streamed } from "./jsonPieces.js";
import { formatTotal, plural } from "./units.js";

/** How a journal state reads in a report. */
export type Outcome = "copied" | "skipped" | "conflict" | "failed" | "filtered" | "uncertain" | "pending";

export const OUTCOMES: readonly Outcome[] = [
  "copied",
  "skipped",
  "conflict",
  "failed",
  "filtered",
  "uncertain",
  "pending",
];

const OUTCOME_HELP: Record<Outcome, string> = {
  copied: "copied by pyreg and found in the destination index with the source's sha256",
  skipped: "already at the destination with the same sha256 (not sent)",
  conflict: "the destination has the filename with other bytes (left alone)",
  failed: "not copied; see the reason",
  filtered: "left out on purpose (e.g. a GitLab package status)",
  uncertain: "an upload was started or about to start, and not confirmed; the next migrate re-checks it",
  pending: "not attempted: planned, and the run stopped before it (the next migrate does it)",
};

export function outcomeOf(state: FileState): Outcome {
  switch (state) {
    case "verified":
      return "copied";
    case "skipped":
    case "conflict":
    case "failed":
    case "filtered":
      return state;
    case "uploading":
    case "uploaded":
      return "uncertain";
    default:
      return "pending";
  }
}

/** Files and bytes per outcome; `unknownSizes`: files counted whose size is not known (not in `bytes`). */
type Tally = Record<Outcome, { files: number; bytes: number; unknownSizes: number }>;

function emptyTally(): Tally {
  return Object.fromEntries(OUTCOMES.map((o) => [o, { files: 0, bytes: 0, unknownSizes: 0 }])) as Tally;
}

export interface ReportFile {
  project: string;
  version: string;
  filename: string;
  size: number | null;
  sha256: string | null;
  outcome: Outcome;
  state: FileState;
  reason: string | null;
  code?: string;
  serverAnswer?: string;
  destinationSha256?: string;
  uploadAttempts: number;
  /**
   * How the bytes at the destination were confirmed: "index:<digest>" (its index lists the
   * source's digest) or "content:<digest>" (downloaded from the destination and hashed).
   */
  verification?: string;
  /** The run that last changed this file (with the shard when merged). */
  run: string;
}

export interface ReportRun {
  run: string;
  command: string;
  argv: string[];
  pyregVersion: string;
  shard: string | null;
  source: string;
  destination: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  status: RunRow["status"];
  message: string | null;
  counts: Record<string, number> | null;
}

export interface Report {
  schema: 1;
  tool: { name: "pyreg"; version: string };
  generatedAt: string;
  source: Identity["source"];
  destination: Identity["destination"];
  /** Shards merged into this report ("K/N"), or null for an unsharded migration. */
  shards: string[] | null;
  /** Shards of N with no journal given to --merge: the report is incomplete. */
  missingShards: string[];
  /** The command of the latest run, secrets redacted. */
  command: string;
  runs: ReportRun[];
  totals: { files: number; bytes: number; unknownSizes: number; byOutcome: Tally };
  projects: {
    project: string;
    error: string | null;
    versions: { version: string; files: number; bytes: number; byOutcome: Record<Outcome, number> }[];
  }[];
  /** Every file, whatever happened to it. */
  files: ReportFile[];
  /** Files not copied by this migration: skipped, conflict, failed, filtered, uncertain, pending. */
  problems: ReportFile[];
  /** What the upload protocol could not carry to the destination, per copied file. */
  notCarried: ({ project: string; version: string; filename: string } & NotCarried)[];
  /** Files copied or found at the destination, by how their bytes were confirmed ("index:sha256"...). */
  verifiedBy: Record<string, number>;
  verification: {
    run: string;
    counts: Record<CheckRow["status"], number>;
    /** Checked files by how they were checked ("index:sha512", "content:sha256"). */
    by: Record<string, number>;
    problems: Omit<CheckRow, "runId">[];
  } | null;
  durations: { runsSeconds: number; firstStart: string | null; lastEnd: string | null };
  /**
   * What the selection rules (--include, --platforms, --requirements...) of the latest run said:
   * rules that matched nothing, pinned files missing or different at the source (problems), and
   * what was left out that is not a file of the table above (projects never listed; files a
   * `verify` did not check).
   */
  selection: {
    warnings: string[];
    problems: { project: string | null; filename: string | null; text: string }[];
    filteredProjects: { project: string | null; text: string }[];
    filteredFiles: { project: string | null; filename: string | null; text: string }[];
  };
  /**
   * Derived from what happened, never assumed: complete only when the latest migrate run (of
   * every shard) ended "done" and no file, project or shard is left without its copy.
   */
  result: { complete: boolean; reasons: string[] };
  /** Files at the source that are not distributions (not copied), with why. */
  ignored: { name: string; reason: string }[];
  /** Warnings of the latest run (of each shard). */
  warnings: string[];
}

function runLabel(id: number, shard: string | null, merged: boolean): string {
  return merged && shard ? `${shard}#${id}` : String(id);
}

function seconds(a: string, b: string | null): number | null {
  if (!b) return null;
  return Math.max(0, (Date.parse(b) - Date.parse(a)) / 1000);
}

/** One project of the report, with its files tallied per version. */
export type ReportProject = Report["projects"][number];
export type NotCarriedEntry = Report["notCarried"][number];
export type CheckProblem = NonNullable<Report["verification"]>["problems"][number];
export type FilteredFile = Report["selection"]["filteredFiles"][number];

/**
 * The report without its lists that grow with the number of files: those are counted here, and
 * iterated from the journals (see ReportLists).
 */
export type ReportSummary = Omit<
  Report,
  "projects" | "files" | "problems" | "notCarried" | "verification" | "selection"
> & {
  verification: (Omit<NonNullable<Report["verification"]>, "problems"> & { problems: number }) | null;
  selection: Omit<Report["selection"], "filteredFiles"> & { filteredFiles: number };
  /** How many files are not copied (the report's `problems` list). */
  problems: number;
  /** How many copied files carry something the upload form could not (the `notCarried` list). */
  notCarried: number;
};

/**
 * The report's long lists, read from the journals each time they are iterated (a row at a time,
 * a project at a time: memory grows with the largest project, never with the whole migration).
 */
export interface ReportLists {
  projects(): Iterable<ReportProject>;
  files(): Iterable<ReportFile>;
  problems(): Iterable<ReportFile>;
  notCarried(): Iterable<NotCarriedEntry>;
  checkProblems(): Iterable<CheckProblem>;
  filteredFiles(): Iterable<FilteredFile>;
}

export interface ReportStream {
  summary: ReportSummary;
  lists: ReportLists;
}

/** Binary (code unit) order, as SQLite's ORDER BY sorts the journal's text. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merges lists that are each ordered by `key` into one ordered list (ties: the earlier list first). */
function* mergeBy<T>(lists: Iterable<T>[], key: (t: T) => string): Generator<T> {
  // One journal (every report but a --merge of shards): its list is already in order.
  if (lists.length === 1) {
    yield* lists[0] as Iterable<T>;
    return;
  }
  const its = lists.map((l) => l[Symbol.iterator]());
  try {
    const heads = its.map((it) => it.next());
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i] as IteratorResult<T>;
        if (h.done) continue;
        const b = heads[best] as IteratorResult<T> | undefined;
        if (!b || b.done || cmp(key(h.value), key(b.value)) < 0) best = i;
      }
      if (best < 0) return;
      yield (heads[best] as IteratorYieldResult<T>).value;
      heads[best] = (its[best] as Iterator<T>).next();
    }
  } finally {
    // An abandoned iteration closes its queries (better-sqlite3 keeps the connection busy until then).
    for (const it of its) it.return?.();
  }
}

function* mapIter<T, U>(list: Iterable<T>, f: (t: T) => U): Generator<U> {
  for (const t of list) yield f(t);
}

// As String.prototype.localeCompare with these options, made once (localeCompare with options
// builds a collator on every call).
const byVersion = new Intl.Collator(undefined, { numeric: true }).compare;
const byName = new Intl.Collator().compare;

function sortInProject(files: ReportFile[]): ReportFile[] {
  return files.sort((a, b) => byVersion(a.version, b.version) || byName(a.filename, b.filename));
}

/** Files of every journal a project at a time, by project, each project's by version and filename. */
function* projectGroups(
  sources: readonly ReportSource[],
  pick: (s: ReportSource) => Iterable<FileRow>,
  merged: boolean,
): Generator<ReportFile[]> {
  const lists = sources.map((s) => mapIter(pick(s), (f) => reportFile(f, s.identity.shard ?? null, merged)));
  let group: ReportFile[] = [];
  for (const f of mergeBy(lists, (f) => f.project)) {
    if (group.length && (group[0] as ReportFile).project !== f.project) {
      yield sortInProject(group);
      group = [];
    }
    group.push(f);
  }
  if (group.length) yield sortInProject(group);
}

/** A project's files tallied per version, versions in the order of the report's file lists. */
function versionsOf(files: FileTally[]): ReportProject["versions"] {
  files.sort((a, b) => byVersion(a[1], b[1]) || byName(a[2], b[2]));
  const versions = new Map<string, { files: number; bytes: number; byOutcome: Record<Outcome, number> }>();
  for (const [, version, , state, size] of files) {
    let v = versions.get(version);
    if (!v) {
      v = {
        files: 0,
        bytes: 0,
        byOutcome: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
      };
      versions.set(version, v);
    }
    v.files++;
    v.bytes += size ?? 0;
    v.byOutcome[outcomeOf(state)]++;
  }
  return [...versions.entries()].map(([version, v]) => ({ version, ...v }));
}

/** The tallies of every journal a project at a time, by project. */
function* tallyGroups(sources: readonly ReportSource[]): Generator<FileTally[]> {
  let group: FileTally[] = [];
  for (const t of mergeBy(
    sources.map((s) => s.fileTallies()),
    (t) => t[0],
  )) {
    if (group.length && (group[0] as FileTally)[0] !== t[0]) {
      yield group;
      group = [];
    }
    group.push(t);
  }
  if (group.length) yield group;
}

/** Every project with files or a record (an error) in any journal, by name. */
function* projectList(sources: readonly ReportSource[]): Generator<ReportProject> {
  const groups = tallyGroups(sources);
  const rows = mergeBy(
    sources.map((s) => s.projects()),
    (p) => p.project,
  );
  try {
    let g = groups.next();
    let r = rows.next();
    while (!g.done || !r.done) {
      const gp = g.done ? undefined : (g.value[0] as FileTally)[0];
      const rp = r.done ? undefined : r.value.project;
      const name = (gp === undefined ? rp : rp === undefined ? gp : cmp(gp, rp) <= 0 ? gp : rp) as string;
      // The later journal's record wins (as a map filled journal after journal would have it).
      let error: string | null = null;
      while (!r.done && r.value.project === name) {
        error = r.value.error;
        r = rows.next();
      }
      let files: FileTally[] = [];
      if (!g.done && (g.value[0] as FileTally)[0] === name) {
        files = g.value;
        g = groups.next();
      }
      yield { project: name, error, versions: versionsOf(files) };
    }
  } finally {
    groups.return(undefined);
    rows.return(undefined);
  }
}

/** A ReportSource over a journal read whole (JournalData): for tests and small journals. */
export function memorySource(j: JournalData): ReportSource {
  const byProject = (list: FileRow[]): FileRow[] => [...list].sort((a, b) => cmp(a.project, b.project));
  const lastRun = j.runs[j.runs.length - 1]?.id;
  const notes = j.selection.filter((n) => lastRun === undefined || n.runId === lastRun);
  const checks = j.checks;
  const tally = (keys: (string | null | undefined)[]): Record<string, number> => tallyBy(keys);
  return {
    dir: j.dir,
    identity: j.identity,
    runs: j.runs,
    stateTotals: () => {
      const m = new Map<
        FileState,
        { state: FileState; files: number; bytes: number; unknownSizes: number }
      >();
      for (const f of j.files) {
        const t = m.get(f.state) ?? { state: f.state, files: 0, bytes: 0, unknownSizes: 0 };
        const size = f.size ?? f.bytes;
        t.files++;
        t.bytes += size ?? 0;
        if (size === null) t.unknownSizes++;
        m.set(f.state, t);
      }
      return [...m.values()];
    },
    verifiedBy: () => tally(j.files.map((f) => f.verification)),
    projects: () => [...j.projects].sort((a, b) => cmp(a.project, b.project)),
    files: () => byProject(j.files),
    fileTallies: () =>
      byProject(j.files).map((f): FileTally => [
        f.project,
        f.version,
        f.filename,
        f.state,
        f.size ?? f.bytes,
      ]),
    unverifiedFiles: () => byProject(j.files.filter((f) => f.state !== "verified")),
    notCarried: () =>
      j.files
        .filter((f): f is FileRow & NotCarriedRow => f.state === "verified" && f.notCarried !== null)
        .sort((a, b) => cmp(a.filename, b.filename)),
    notCarriedCount: () => j.files.filter((f) => f.state === "verified" && f.notCarried).length,
    checks: checks.length
      ? {
          runId: checks[0]?.runId ?? 0,
          counts: {
            ok: checks.filter((c) => c.status === "ok").length,
            missing: checks.filter((c) => c.status === "missing").length,
            different: checks.filter((c) => c.status === "different").length,
            unverifiable: checks.filter((c) => c.status === "unverifiable").length,
          },
          by: tally(checks.map((c) => c.verification)),
          problemCount: checks.filter((c) => c.status !== "ok").length,
          problems: () => checks.filter((c) => c.status !== "ok").sort((a, b) => cmp(a.filename, b.filename)),
        }
      : null,
    selection: notes.filter((n) => n.kind !== "filtered-file"),
    filteredFileCount: () => notes.filter((n) => n.kind === "filtered-file").length,
    filteredFiles: () => notes.filter((n) => n.kind === "filtered-file"),
    ignored: j.ignored,
    warnings: j.warnings,
  };
}

function addTally(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

/**
 * The report of one journal, or of the journals of several shards of one migration: its summary
 * computed now (aggregates), its lists read from the journals as they are written.
 */
export function streamReport(sources: readonly ReportSource[], version: string): ReportStream {
  const first = sources[0];
  if (!first) throw new PyregError("USAGE", "no journal to report on");
  for (const j of sources.slice(1)) {
    if (
      j.identity.source.key !== first.identity.source.key ||
      j.identity.destination.key !== first.identity.destination.key
    ) {
      throw new PyregError(
        "STATE",
        `${j.dir} records another migration (from ${j.identity.source.description} to ${j.identity.destination.description}) than ${first.dir} (from ${first.identity.source.description} to ${first.identity.destination.description})`,
        { hint: "merge only the shards of one migration" },
      );
    }
  }
  const merged = sources.length > 1;
  const shardList = sources.map((j) => j.identity.shard).filter((s): s is string => !!s);
  const seenShards = new Set(shardList);
  if (merged && seenShards.size !== sources.length) {
    throw new PyregError("USAGE", "report --merge was given the same shard (or an unsharded journal) twice", {
      hint: `given: ${sources.map((j) => `${j.dir} (${j.identity.shard ?? "unsharded"})`).join(", ")}`,
    });
  }
  const missingShards: string[] = [];
  const n = shardList.length ? Number(shardList[0]?.split("/")[1]) : 0;
  if (n > 0) {
    for (let k = 1; k <= n; k++) if (!seenShards.has(`${k}/${n}`)) missingShards.push(`${k}/${n}`);
  }

  const runs: ReportRun[] = sources
    .flatMap((j) =>
      j.runs.map((r) => ({
        run: runLabel(r.id, r.shard, merged),
        command: r.command,
        argv: r.argv,
        pyregVersion: r.version,
        shard: r.shard,
        source: r.source,
        destination: r.destination,
        startedAt: r.startedAt,
        endedAt: r.endedAt,
        durationSeconds: seconds(r.startedAt, r.endedAt),
        status: r.status,
        message: r.message,
        counts: r.counts,
      })),
    )
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));

  const totals = { files: 0, bytes: 0, unknownSizes: 0, byOutcome: emptyTally() };
  const verifiedBy: Record<string, number> = {};
  let projectErrors = 0;
  let notCarried = 0;
  for (const j of sources) {
    for (const t of j.stateTotals()) {
      const o = outcomeOf(t.state);
      totals.files += t.files;
      totals.bytes += t.bytes;
      totals.unknownSizes += t.unknownSizes;
      totals.byOutcome[o].files += t.files;
      totals.byOutcome[o].bytes += t.bytes;
      totals.byOutcome[o].unknownSizes += t.unknownSizes;
    }
    addTally(verifiedBy, j.verifiedBy());
    notCarried += j.notCarriedCount();
  }
  // Projects with an error (the later journal's record wins), counted a project at a time.
  {
    let last: { project: string; error: string | null } | undefined;
    for (const p of mergeBy(
      sources.map((s) => s.projects()),
      (p) => p.project,
    )) {
      if (last && last.project !== p.project && last.error) projectErrors++;
      last = p;
    }
    if (last?.error) projectErrors++;
  }

  const withChecks = sources.filter((j) => j.checks);
  const verification: ReportSummary["verification"] = withChecks.length
    ? {
        run: [
          ...new Set(withChecks.map((j) => runLabel(j.checks?.runId ?? 0, j.identity.shard ?? null, merged))),
        ].join(", "),
        counts: { ok: 0, missing: 0, different: 0, unverifiable: 0 },
        by: {},
        problems: 0,
      }
    : null;
  if (verification)
    for (const j of withChecks) {
      const c = j.checks as NonNullable<ReportSource["checks"]>;
      for (const s of ["ok", "missing", "different", "unverifiable"] as const)
        verification.counts[s] += c.counts[s];
      addTally(verification.by, c.by);
      verification.problems += c.problemCount;
    }

  const notes = sources.flatMap((j) => j.selection);
  const selection: ReportSummary["selection"] = {
    warnings: [...new Set(notes.filter((n) => n.kind === "warning").map((n) => n.text))],
    problems: notes
      .filter((n) => n.kind === "problem")
      .map((n) => ({ project: n.project, filename: n.filename, text: n.text })),
    filteredProjects: notes
      .filter((n) => n.kind === "filtered-project")
      .map((n) => ({ project: n.project, text: n.text })),
    filteredFiles: sources.reduce((s, j) => s + j.filteredFileCount(), 0),
  };

  const reasons: string[] = [];
  for (const j of sources) {
    const where = merged && j.identity.shard ? ` of shard ${j.identity.shard}` : "";
    const lastMigrate = [...j.runs].reverse().find((r) => r.command === "migrate");
    if (!lastMigrate) reasons.push(`no migrate run${where} is recorded`);
    else if (lastMigrate.status !== "done") {
      const what =
        lastMigrate.status === "running"
          ? "is still running"
          : lastMigrate.status === "killed"
            ? "was killed"
            : lastMigrate.status;
      reasons.push(
        `the latest migrate run${where} (run ${lastMigrate.id}) ${what}${lastMigrate.message ? `: ${lastMigrate.message}` : ""}`,
      );
    }
  }
  const notDone = (["failed", "conflict", "uncertain", "pending"] as const).filter(
    (o) => totals.byOutcome[o].files,
  );
  for (const o of notDone)
    reasons.push(`${plural(totals.byOutcome[o].files, "file")} ${o === "pending" ? "not attempted" : o}`);
  if (projectErrors) reasons.push(`${plural(projectErrors, "project")} could not be listed`);
  if (missingShards.length) reasons.push(`no journal for shard ${missingShards.join(", ")}`);
  if (verification && verification.problems)
    reasons.push(
      `the latest verify found ${plural(verification.problems, "file")} not at the destination as at the source`,
    );
  if (selection.problems.length)
    reasons.push(`${plural(selection.problems.length, "pinned file problem")} at the source`);

  const last = runs[runs.length - 1];
  const ends = runs
    .map((r) => r.endedAt)
    .filter((e): e is string => !!e)
    .sort();
  const summary: ReportSummary = {
    schema: 1,
    tool: { name: "pyreg", version },
    generatedAt: new Date().toISOString(),
    source: first.identity.source,
    destination: first.identity.destination,
    shards: shardList.length
      ? [...shardList].sort((a, b) => Number(a.split("/")[0]) - Number(b.split("/")[0]))
      : null,
    missingShards,
    command: last ? ["pyreg", ...last.argv].map(shellQuote).join(" ") : "",
    runs,
    totals,
    problems: totals.files - totals.byOutcome.copied.files,
    verifiedBy,
    notCarried,
    verification,
    selection,
    durations: {
      runsSeconds: runs.reduce((s, r) => s + (r.durationSeconds ?? 0), 0),
      firstStart: runs[0]?.startedAt ?? null,
      lastEnd: ends[ends.length - 1] ?? null,
    },
    result: { complete: reasons.length === 0, reasons },
    ignored: sources.flatMap((j) => j.ignored ?? []),
    warnings: sources.flatMap((j) => {
      const lastRun = j.runs[j.runs.length - 1]?.id;
      return (j.warnings ?? []).filter((w) => w.runId === lastRun).map((w) => w.text);
    }),
  };
  const lists: ReportLists = {
    projects: () => projectList(sources),
    files: function* () {
      for (const g of projectGroups(sources, (s) => s.files(), merged)) yield* g;
    },
    problems: function* () {
      for (const g of projectGroups(sources, (s) => s.unverifiedFiles(), merged)) yield* g;
    },
    notCarried: () =>
      mapIter(
        mergeBy(
          sources.map((s) => s.notCarried()),
          (f) => f.filename,
        ),
        (f) => ({ project: f.project, version: f.version, filename: f.filename, ...f.notCarried }),
      ),
    checkProblems: () =>
      mapIter(
        mergeBy(
          sources.map((s) => s.checks?.problems() ?? []),
          (c) => c.filename,
        ),
        ({ project, filename, version, status, detail }) => ({ project, filename, version, status, detail }),
      ),
    filteredFiles: function* () {
      for (const s of sources)
        for (const n of s.filteredFiles()) yield { project: n.project, filename: n.filename, text: n.text };
    },
  };
  return { summary, lists };
}

/** The whole report as one object (every list read): for small journals and tests. */
export function collectReport({ summary: s, lists }: ReportStream): Report {
  return {
    schema: s.schema,
    tool: s.tool,
    generatedAt: s.generatedAt,
    source: s.source,
    destination: s.destination,
    shards: s.shards,
    missingShards: s.missingShards,
    command: s.command,
    runs: s.runs,
    totals: s.totals,
    projects: [...lists.projects()],
    files: [...lists.files()],
    problems: [...lists.problems()],
    verifiedBy: s.verifiedBy,
    notCarried: [...lists.notCarried()],
    verification: s.verification ? { ...s.verification, problems: [...lists.checkProblems()] } : null,
    selection: { ...s.selection, filteredFiles: [...lists.filteredFiles()] },
    durations: s.durations,
    result: s.result,
    ignored: s.ignored,
    warnings: s.warnings,
  };
}

/** A whole report as a stream (its lists are its arrays). */
export function reportAsStream(r: Report): ReportStream {
  const { projects, files, problems, notCarried, verification, selection, ...rest } = r;
  return {
    summary: {
      ...rest,
      problems: problems.length,
      notCarried: notCarried.length,
      verification: verification ? { ...verification, problems: verification.problems.length } : null,
      selection: { ...selection, filteredFiles: selection.filteredFiles.length },
    },
    lists: {
      projects: () => projects,
      files: () => files,
      problems: () => problems,
      notCarried: () => notCarried,
      checkProblems: () => verification?.problems ?? [],
      filteredFiles: () => selection.filteredFiles,
    },
  };
}

/** Builds one report from one journal, or from the journals of several shards of one migration. */
export function buildReport(journals: JournalData[], version: string): Report {
  return collectReport(streamReport(journals.map(memorySource), version));
}

function tallyBy(keys: (string | null | undefined)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) if (k) out[k] = (out[k] ?? 0) + 1;
  return out;
}

/** "index:sha256" → "index listing (sha256)". */
function verificationText(key: string): string {
  const [by, digest] = key.split(":");
  return by === "index" ? `index listing (${digest ?? "?"})` : `downloaded content (${digest ?? "?"})`;
}

function reportFile(f: FileRow, shard: string | null, merged: boolean): ReportFile {
  return {
    project: f.project,
    version: f.version,
    filename: f.filename,
    // An index need not list sizes: a copied file's size is then the bytes it had.
    size: f.size ?? f.bytes,
    sha256: f.sha256,
    outcome: outcomeOf(f.state),
    state: f.state,
    reason: f.reason,
    ...(f.code ? { code: f.code } : {}),
    ...(f.serverAnswer ? { serverAnswer: f.serverAnswer } : {}),
    ...(f.destinationSha256 ? { destinationSha256: f.destinationSha256 } : {}),
    uploadAttempts: f.uploadAttempts,
    ...(f.verification ? { verification: f.verification } : {}),
    run: runLabel(f.runId, shard, merged),
  };
}

/** Quotes one argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * report.json as a series of pieces whose concatenation is exactly `JSON.stringify(r, null, 2)`
 * and a newline. The whole text is never one string: V8 caps a string at 2^29 - 24 characters,
 * which a report of about 760,000 files (700 bytes each) exceeds. A piece holds whole values (or
 * brackets and keys), so a JSON string value is never split between two pieces.
 */
export function* renderJsonPieces(r: Report, indent = ""): Generator<string> {
  // Depth 2: the report's lists (files, problems, projects with their versions…) are written 256
  // elements to a piece.
  yield* jsonPieces(r, indent, 2);
  if (!indent) yield "\n";
}

/**
 * report.json of a streamed report: the same text as `renderJsonPieces(collectReport(s))`, with
 * its lists read from the journals a slice at a time while the text is written.
 */
export function* reportJsonPieces({ summary: r, lists }: ReportStream, indent = ""): Generator<string> {
  const text = {
    schema: r.schema,
    tool: r.tool,
    generatedAt: r.generatedAt,
    source: r.source,
    destination: r.destination,
    shards: r.shards,
    missingShards: r.missingShards,
    command: r.command,
    runs: r.runs,
    totals: r.totals,
    projects: new Streamed(() => lists.projects()),
    files: new Streamed(() => lists.files()),
    problems: new Streamed(() => lists.problems()),
    verifiedBy: r.verifiedBy,
    notCarried: new Streamed(() => lists.notCarried()),
    verification: r.verification
      ? {
          run: r.verification.run,
          counts: r.verification.counts,
          by: r.verification.by,
          problems: new Streamed(() => lists.checkProblems()),
        }
      : null,
    selection: {
      warnings: r.selection.warnings,
      problems: r.selection.problems,
      filteredProjects: r.selection.filteredProjects,
      filteredFiles: new Streamed(() => lists.filteredFiles()),
    },
    durations: r.durations,
    result: r.result,
    ignored: r.ignored,
    warnings: r.warnings,
  };
  yield* jsonPieces(text, indent, 2);
  if (!indent) yield "\n";
}

function formatSeconds(s: number | null): string {
  if (s === null) return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A table cell: one line, pipes escaped, long text cut. */
export function cell(text: string | number | null | undefined, max = 300): string {
  if (text === null || text === undefined || text === "") return "—";
  let s = String(text)
    .replace(/\r?\n|\r/g, " ")
    .trim();
  if (s.length > max) s = s.slice(0, max - 1) + "…";
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/</g, "&lt;");
}

/** A table as lines: its head, then a line per row as the rows are iterated. */
function* table(
  head: string[],
  align: ("l" | "r")[],
  rows: Iterable<(string | number)[]>,
): Generator<string> {
  const line = (r: (string | number)[]): string =>
    `| ${r.map((c) => (typeof c === "number" ? String(c) : c)).join(" | ")} |`;
  yield line(head);
  yield line(align.map((a) => (a === "r" ? "---:" : "---")));
  for (const r of rows) yield line(r);
}

export function renderMarkdown(r: Report): string {
  return [...reportMarkdownPieces(reportAsStream(r))].join("");
}

/** report.md as pieces (a line or a few at a time), its long tables read from the journals as written. */
export function* reportMarkdownPieces(s: ReportStream): Generator<string> {
  let first = true;
  for (const line of markdownLines(s)) {
    yield first ? line : `\n${line}`;
    first = false;
  }
}

function* markdownLines({ summary: r, lists }: ReportStream): Generator<string> {
  const complete = r.result.complete;
  yield* [`# pyreg migration report`, ""];
  yield `- **Source:** ${cell(r.source.description)}`;
  yield `- **Destination:** ${cell(r.destination.description)}`;
  if (r.shards) yield `- **Shards:** ${r.shards.join(", ")}`;
  if (r.missingShards.length)
    yield `- **Incomplete:** no journal for shard ${r.missingShards.join(", ")} was merged`;
  yield `- **pyreg:** ${r.tool.version}; report generated ${r.generatedAt}`;
  yield `- **Command (latest run):** \`${r.command.replace(/`/g, "'")}\``;
  yield `- **Result:** ${complete ? "every file is at the destination with the source's sha256, or was left out on purpose" : `NOT complete: ${cell(r.result.reasons.join("; "), 600)}`}`;
  yield* [
    `- **Time:** ${formatSeconds(r.durations.runsSeconds)} over ${plural(r.runs.length, "run")}, ${r.durations.firstStart ?? "—"} to ${r.durations.lastEnd ?? "—"}`,
    "",
  ];

  if (r.warnings.length) {
    yield* ["## Warnings", ""];
    for (const w of r.warnings) yield `- ${cell(w)}`;
    yield "";
  }

  yield* ["## Summary", ""];
  yield* table(
    ["Outcome", "Files", "Bytes", "Meaning"],
    ["l", "r", "r", "l"],
    [
      ...OUTCOMES.filter(
        (o) => r.totals.byOutcome[o].files > 0 || ["copied", "skipped", "failed"].includes(o),
      ).map((o) => [
        o,
        r.totals.byOutcome[o].files,
        formatTotal(r.totals.byOutcome[o].bytes, r.totals.byOutcome[o].unknownSizes),
        OUTCOME_HELP[o],
      ]),
      ["**total**", r.totals.files, formatTotal(r.totals.bytes, r.totals.unknownSizes), ""],
    ],
  );
  yield "";

  const kinds = Object.keys(r.verifiedBy).sort();
  if (kinds.length) {
    yield* ["## How the files at the destination were verified", ""];
    yield* [
      "An index listing proves the bytes only where the destination computes the digest it lists; " +
        "downloaded content is read back from the destination and hashed.",
      "",
    ];
    yield* table(
      ["Verified by", "Files"],
      ["l", "r"],
      kinds.map((k) => [verificationText(k), r.verifiedBy[k] ?? 0]),
    );
    yield "";
  }

  const sel = r.selection;
  if (sel.warnings.length || sel.problems.length || sel.filteredProjects.length || sel.filteredFiles) {
    yield* ["## Selection (latest run)", ""];
    for (const w of sel.warnings) yield `- warning: ${cell(w, 300)}`;
    for (const p of sel.problems) yield `- **problem:** ${cell(p.text, 300)}`;
    if (sel.warnings.length || sel.problems.length) yield "";
    const left = sel.filteredProjects.length + sel.filteredFiles;
    if (left) {
      yield* [`<details><summary>${left} left out</summary>`, ""];
      yield* table(
        ["Project", "File", "Left out by"],
        ["l", "l", "l"],
        (function* () {
          for (const p of sel.filteredProjects)
            yield [cell(p.project ?? ""), "(whole project)", cell(p.text)];
          for (const f of lists.filteredFiles())
            yield [cell(f.project ?? ""), cell(f.filename ?? ""), cell(f.text)];
        })(),
      );
      yield* ["", "</details>", ""];
    }
  }

  yield* ["## Runs", ""];
  yield* table(
    ["Run", "Command", "Started", "Duration", "Status", "Copied", "Skipped", "Conflict", "Failed", "pyreg"],
    ["l", "l", "l", "r", "l", "r", "r", "r", "r", "l"],
    r.runs.map((run) => [
      run.run,
      run.command + (run.shard ? ` (shard ${run.shard})` : ""),
      run.startedAt,
      formatSeconds(run.durationSeconds),
      cell(run.status + (run.message ? `: ${run.message}` : ""), 120),
      run.counts?.["copied"] ?? "—",
      run.counts?.["skipped"] ?? "—",
      run.counts?.["conflict"] ?? "—",
      run.counts?.["failed"] ?? "—",
      run.pyregVersion,
    ]),
  );
  yield "";
  yield* ["Commands (secrets redacted):", ""];
  for (const run of r.runs)
    yield `- run ${run.run}: \`${["pyreg", ...run.argv].map(shellQuote).join(" ").replace(/`/g, "'")}\``;
  yield "";
  // Projects a re-run did not plan again (docs/reruns.md): their files are counted by the run that
  // completed them, and said here so that a run with nothing copied does not read as "nothing seen".
  const unchanged = r.runs.filter((run) => (run.counts?.["unchangedProjects"] ?? 0) > 0);
  for (const run of unchanged)
    yield `- run ${run.run}: ${plural(run.counts?.["unchangedProjects"] ?? 0, "project")} (${plural(run.counts?.["unchangedFiles"] ?? 0, "file")}) unchanged at the source and at the destination since the run that completed them: not planned again`;
  if (unchanged.length) yield "";

  yield* ["## Per project and version", ""];
  yield* table(
    ["Project", "Version", "Files", "Copied", "Skipped", "Conflict", "Failed", "Filtered", "Other"],
    ["l", "l", "r", "r", "r", "r", "r", "r", "l"],
    (function* () {
      for (const p of lists.projects()) {
        if (p.error)
          yield [cell(p.project), "—", "—", "—", "—", "—", "—", "—", cell(`could not be listed: ${p.error}`)];
        for (const v of p.versions) {
          const b = v.byOutcome;
          yield [
            cell(p.project),
            cell(v.version),
            v.files,
            b.copied,
            b.skipped,
            b.conflict,
            b.failed,
            b.filtered,
            b.uncertain + b.pending ? `${b.uncertain + b.pending} not done` : "",
          ];
        }
      }
    })(),
  );
  yield "";

  yield* ["## Files not copied", ""];
  if (!r.problems)
    yield* [
      complete
        ? "None: every file was copied by this migration."
        : "None recorded: no file reached an outcome (see the result above).",
      "",
    ];
  else {
    yield* table(
      ["File", "Outcome", "Reason", "Server answer", "Run"],
      ["l", "l", "l", "l", "l"],
      mapIter(lists.problems(), (f) => [
        cell(f.filename),
        f.outcome + (f.code ? ` (${f.code})` : ""),
        cell(f.reason),
        cell(f.serverAnswer, 200),
        f.run,
      ]),
    );
    yield "";
  }

  if (r.ignored.length) {
    yield* ["## Ignored at the source", ""];
    yield* [`${plural(r.ignored.length, "file")} at the source not copied (not distributions):`, ""];
    yield* table(
      ["File", "Why"],
      ["l", "l"],
      r.ignored.map((i) => [cell(i.name), cell(i.reason)]),
    );
    yield "";
  }

  yield* ["## Not carried over by the upload protocol", ""];
  yield* [
    "The upload form (what twine sends) has no field for these; the destination shows its own values instead.",
    "",
  ];
  if (!r.notCarried) yield* ["Nothing: the source recorded no upload times, yanks or notes.", ""];
  else {
    // Long lists fold away on GitHub/GitLab; the table still renders inside.
    yield* [`<details><summary>${plural(r.notCarried, "file")}</summary>`, ""];
    yield* table(
      ["File", "Upload time at the source", "Yanked at the source", "Notes"],
      ["l", "l", "l", "l"],
      mapIter(lists.notCarried(), (n) => [
        cell(n.filename),
        cell(n.uploadTime),
        n.yanked === undefined || n.yanked === false
          ? "—"
          : cell(n.yanked === true ? "yes" : `yes: ${n.yanked}`),
        cell(
          Object.entries(n.notes ?? {})
            .map(([k, v]) => `${k}: ${v}`)
            .join("; "),
        ),
      ]),
    );
    yield* ["", "</details>", ""];
  }

  if (r.verification) {
    const v = r.verification;
    yield* [`## Verification (verify run ${v.run})`, ""];
    yield* table(
      ["Status", "Files"],
      ["l", "r"],
      (["ok", "missing", "different", "unverifiable"] as const).map((s) => [s, v.counts[s]]),
    );
    yield "";
    const checkedBy = Object.keys(v.by).sort();
    if (checkedBy.length) {
      yield* table(
        ["Checked by", "Files"],
        ["l", "r"],
        checkedBy.map((k) => [verificationText(k), v.by[k] ?? 0]),
      );
      yield "";
    }
    if (v.problems) {
      yield* table(
        ["File", "Status", "Detail"],
        ["l", "l", "l"],
        mapIter(lists.checkProblems(), (p) => [cell(p.filename), p.status, cell(p.detail)]),
      );
      yield "";
    }
  }
}
