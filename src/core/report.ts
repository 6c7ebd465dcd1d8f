/**
 * Reports, built from the journal only: what happened to every file over all runs of one migration (or of all its shards),
 * rendered as JSON for machines and Markdown for people.
 */
import { PyregError } from "./errors.js";
import type { CheckRow, FileRow, FileState, Identity, JournalData, NotCarried, RunRow } from "./journal.js";
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
  uncertain: "an upload was started and not confirmed; the next migrate re-checks it",
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

/** Builds one report from one journal, or from the journals of several shards of one migration. */
export function buildReport(journals: JournalData[], version: string): Report {
  const first = journals[0];
  if (!first) throw new PyregError("USAGE", "no journal to report on");
  for (const j of journals.slice(1)) {
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
  const merged = journals.length > 1;
  const shardList = journals.map((j) => j.identity.shard).filter((s): s is string => !!s);
  const seenShards = new Set(shardList);
  if (merged && seenShards.size !== journals.length) {
    throw new PyregError("USAGE", "report --merge was given the same shard (or an unsharded journal) twice", {
      hint: `given: ${journals.map((j) => `${j.dir} (${j.identity.shard ?? "unsharded"})`).join(", ")}`,
    });
  }
  const missingShards: string[] = [];
  const n = shardList.length ? Number(shardList[0]?.split("/")[1]) : 0;
  if (n > 0) {
    for (let k = 1; k <= n; k++) if (!seenShards.has(`${k}/${n}`)) missingShards.push(`${k}/${n}`);
  }

  const runs: ReportRun[] = journals
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

  const files: ReportFile[] = [];
  for (const j of journals) {
    for (const f of j.files) files.push(reportFile(f, j.identity.shard ?? null, merged));
  }
  files.sort(
    (a, b) =>
      a.project.localeCompare(b.project) ||
      a.version.localeCompare(b.version, undefined, { numeric: true }) ||
      a.filename.localeCompare(b.filename),
  );

  const totals = { files: 0, bytes: 0, unknownSizes: 0, byOutcome: emptyTally() };
  const byProject = new Map<
    string,
    Map<string, { files: number; bytes: number; byOutcome: Record<Outcome, number> }>
  >();
  for (const f of files) {
    const bytes = f.size ?? 0;
    const unknown = f.size === null ? 1 : 0;
    totals.files++;
    totals.bytes += bytes;
    totals.unknownSizes += unknown;
    totals.byOutcome[f.outcome].files++;
    totals.byOutcome[f.outcome].bytes += bytes;
    totals.byOutcome[f.outcome].unknownSizes += unknown;
    let versions = byProject.get(f.project);
    if (!versions) byProject.set(f.project, (versions = new Map()));
    let v = versions.get(f.version);
    if (!v) {
      v = {
        files: 0,
        bytes: 0,
        byOutcome: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
      };
      versions.set(f.version, v);
    }
    v.files++;
    v.bytes += bytes;
    v.byOutcome[f.outcome]++;
  }
  const projectErrors = new Map<string, string | null>();
  for (const j of journals) for (const p of j.projects) projectErrors.set(p.project, p.error);
  const projectNames = [...new Set([...byProject.keys(), ...projectErrors.keys()])].sort();
  const projects = projectNames.map((project) => ({
    project,
    error: projectErrors.get(project) ?? null,
    versions: [...(byProject.get(project) ?? new Map()).entries()].map(([version, v]) => ({ version, ...v })),
  }));

  const notCarried: Report["notCarried"] = [];
  for (const j of journals) {
    for (const f of j.files) {
      if (f.state === "verified" && f.notCarried) {
        notCarried.push({ project: f.project, version: f.version, filename: f.filename, ...f.notCarried });
      }
    }
  }
  notCarried.sort((a, b) => a.filename.localeCompare(b.filename));

  const checks = journals.flatMap((j) => j.checks);
  const verification: Report["verification"] = checks.length
    ? {
        run: [
          ...new Set(
            journals.flatMap((j) =>
              j.checks.length ? [runLabel(j.checks[0]?.runId ?? 0, j.identity.shard ?? null, merged)] : [],
            ),
          ),
        ].join(", "),
        counts: {
          ok: checks.filter((c) => c.status === "ok").length,
          missing: checks.filter((c) => c.status === "missing").length,
          different: checks.filter((c) => c.status === "different").length,
          unverifiable: checks.filter((c) => c.status === "unverifiable").length,
        },
        by: tallyBy(checks.map((c) => c.verification)),
        problems: checks
          .filter((c) => c.status !== "ok")
          .map(({ project, filename, version, status, detail }) => ({
            project,
            filename,
            version,
            status,
            detail,
          }))
          .sort((a, b) => a.filename.localeCompare(b.filename)),
      }
    : null;

  const notes = journals.flatMap((j) => j.selection);
  const selection: Report["selection"] = {
    warnings: [...new Set(notes.filter((n) => n.kind === "warning").map((n) => n.text))],
    problems: notes
      .filter((n) => n.kind === "problem")
      .map((n) => ({ project: n.project, filename: n.filename, text: n.text })),
    filteredProjects: notes
      .filter((n) => n.kind === "filtered-project")
      .map((n) => ({ project: n.project, text: n.text })),
    filteredFiles: notes
      .filter((n) => n.kind === "filtered-file")
      .map((n) => ({ project: n.project, filename: n.filename, text: n.text })),
  };

  const reasons: string[] = [];
  for (const j of journals) {
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
  const projectsWithErrors = projects.filter((p) => p.error).length;
  if (projectsWithErrors) reasons.push(`${plural(projectsWithErrors, "project")} could not be listed`);
  if (missingShards.length) reasons.push(`no journal for shard ${missingShards.join(", ")}`);
  if (verification && verification.problems.length)
    reasons.push(
      `the latest verify found ${plural(verification.problems.length, "file")} not at the destination as at the source`,
    );
  if (selection.problems.length)
    reasons.push(`${plural(selection.problems.length, "pinned file problem")} at the source`);

  const last = runs[runs.length - 1];
  const ends = runs
    .map((r) => r.endedAt)
    .filter((e): e is string => !!e)
    .sort();
  return {
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
    projects,
    files,
    problems: files.filter((f) => f.outcome !== "copied"),
    verifiedBy: tallyBy(files.map((f) => f.verification)),
    notCarried,
    verification,
    selection,
    durations: {
      runsSeconds: runs.reduce((s, r) => s + (r.durationSeconds ?? 0), 0),
      firstStart: runs[0]?.startedAt ?? null,
      lastEnd: ends[ends.length - 1] ?? null,
    },
    result: { complete: reasons.length === 0, reasons },
    ignored: journals.flatMap((j) => j.ignored ?? []),
    warnings: journals.flatMap((j) => {
      const lastRun = j.runs[j.runs.length - 1]?.id;
      return (j.warnings ?? []).filter((w) => w.runId === lastRun).map((w) => w.text);
    }),
  };
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

/** Elements of a list stringified together: one piece of about 200 KB for the report's files. */
const JSON_SLICE = 256;

/** JSON.stringify's replacer-free rules: undefined, functions and symbols vanish from objects and
 * become null in arrays; anything that is not a plain object or array is stringified whole. */
function* jsonPieces(value: unknown, indent: string, depth: number): Generator<string> {
  if (
    depth === 0 ||
    value === null ||
    typeof value !== "object" ||
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    yield (JSON.stringify(value, null, 2) ?? "null").replace(/\n/g, `\n${indent}`);
    return;
  }
  const inner = `${indent}  `;
  const omitted = (v: unknown): boolean =>
    v === undefined || typeof v === "function" || typeof v === "symbol";
  if (Array.isArray(value)) {
    if (!value.length) {
      yield "[]";
      return;
    }
    if (depth === 1) {
      // Elements stringified whole, a slice at a time: "[\n  a,\n  b\n]" without its brackets.
      for (let i = 0; i < value.length; i += JSON_SLICE) {
        const text = JSON.stringify(value.slice(i, i + JSON_SLICE), null, 2);
        yield `${i ? "," : "["}${text.slice(1, -2).replace(/\n/g, `\n${indent}`)}`;
      }
    } else {
      for (let i = 0; i < value.length; i++) {
        yield `${i ? "," : "["}\n${inner}`;
        const v: unknown = value[i];
        yield* jsonPieces(omitted(v) ? null : v, inner, depth - 1);
      }
    }
    yield `\n${indent}]`;
    return;
  }
  let first = true;
  for (const [k, v] of Object.entries(value)) {
    if (omitted(v)) continue;
    yield `${first ? "{" : ","}\n${inner}${JSON.stringify(k)}: `;
    first = false;
    yield* jsonPieces(v, inner, depth - 1);
  }
  yield first ? "{}" : `\n${indent}}`;
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

function table(head: string[], align: ("l" | "r")[], rows: (string | number)[][]): string {
  const sep = align.map((a) => (a === "r" ? "---:" : "---"));
  return [head, sep, ...rows.map((r) => r.map((c) => (typeof c === "number" ? String(c) : c)))]
    .map((r) => `| ${r.join(" | ")} |`)
    .join("\n");
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  const complete = r.result.complete;
  out.push(`# pyreg migration report`, "");
  out.push(`- **Source:** ${cell(r.source.description)}`);
  out.push(`- **Destination:** ${cell(r.destination.description)}`);
  if (r.shards) out.push(`- **Shards:** ${r.shards.join(", ")}`);
  if (r.missingShards.length)
    out.push(`- **Incomplete:** no journal for shard ${r.missingShards.join(", ")} was merged`);
  out.push(`- **pyreg:** ${r.tool.version}; report generated ${r.generatedAt}`);
  out.push(`- **Command (latest run):** \`${r.command.replace(/`/g, "'")}\``);
  out.push(
    `- **Result:** ${complete ? "every file is at the destination with the source's sha256, or was left out on purpose" : `NOT complete: ${cell(r.result.reasons.join("; "), 600)}`}`,
  );
  out.push(
    `- **Time:** ${formatSeconds(r.durations.runsSeconds)} over ${plural(r.runs.length, "run")}, ${r.durations.firstStart ?? "—"} to ${r.durations.lastEnd ?? "—"}`,
    "",
  );

  if (r.warnings.length) {
    out.push("## Warnings", "");
    for (const w of r.warnings) out.push(`- ${cell(w)}`);
    out.push("");
  }

  out.push("## Summary", "");
  out.push(
    table(
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
    ),
    "",
  );

  const kinds = Object.keys(r.verifiedBy).sort();
  if (kinds.length) {
    out.push("## How the files at the destination were verified", "");
    out.push(
      "An index listing proves the bytes only where the destination computes the digest it lists; " +
        "downloaded content is read back from the destination and hashed.",
      "",
    );
    out.push(
      table(
        ["Verified by", "Files"],
        ["l", "r"],
        kinds.map((k) => [verificationText(k), r.verifiedBy[k] ?? 0]),
      ),
      "",
    );
  }

  const sel = r.selection;
  if (sel.warnings.length || sel.problems.length || sel.filteredProjects.length || sel.filteredFiles.length) {
    out.push("## Selection (latest run)", "");
    for (const w of sel.warnings) out.push(`- warning: ${cell(w, 300)}`);
    for (const p of sel.problems) out.push(`- **problem:** ${cell(p.text, 300)}`);
    if (sel.warnings.length || sel.problems.length) out.push("");
    const left = [
      ...sel.filteredProjects.map((p) => [cell(p.project ?? ""), "(whole project)", cell(p.text)]),
      ...sel.filteredFiles.map((f) => [cell(f.project ?? ""), cell(f.filename ?? ""), cell(f.text)]),
    ];
    if (left.length) {
      const body = table(["Project", "File", "Left out by"], ["l", "l", "l"], left);
      out.push(`<details><summary>${left.length} left out</summary>`, "", body, "", "</details>", "");
    }
  }

  out.push("## Runs", "");
  out.push(
    table(
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
    ),
    "",
  );
  out.push("Commands (secrets redacted):", "");
  for (const run of r.runs)
    out.push(`- run ${run.run}: \`${["pyreg", ...run.argv].map(shellQuote).join(" ").replace(/`/g, "'")}\``);
  out.push("");
  // Projects a re-run did not plan again (docs/reruns.md): their files are counted by the run that
  // completed them, and said here so that a run with nothing copied does not read as "nothing seen".
  const unchanged = r.runs.filter((run) => (run.counts?.["unchangedProjects"] ?? 0) > 0);
  for (const run of unchanged)
    out.push(
      `- run ${run.run}: ${plural(run.counts?.["unchangedProjects"] ?? 0, "project")} (${plural(run.counts?.["unchangedFiles"] ?? 0, "file")}) unchanged at the source and at the destination since the run that completed them: not planned again`,
    );
  if (unchanged.length) out.push("");

  out.push("## Per project and version", "");
  const rows: (string | number)[][] = [];
  for (const p of r.projects) {
    if (p.error)
      rows.push([
        cell(p.project),
        "—",
        "—",
        "—",
        "—",
        "—",
        "—",
        "—",
        cell(`could not be listed: ${p.error}`),
      ]);
    for (const v of p.versions) {
      const b = v.byOutcome;
      rows.push([
        cell(p.project),
        cell(v.version),
        v.files,
        b.copied,
        b.skipped,
        b.conflict,
        b.failed,
        b.filtered,
        b.uncertain + b.pending ? `${b.uncertain + b.pending} not done` : "",
      ]);
    }
  }
  out.push(
    table(
      ["Project", "Version", "Files", "Copied", "Skipped", "Conflict", "Failed", "Filtered", "Other"],
      ["l", "l", "r", "r", "r", "r", "r", "r", "l"],
      rows,
    ),
    "",
  );

  out.push("## Files not copied", "");
  if (!r.problems.length)
    out.push(
      complete
        ? "None: every file was copied by this migration."
        : "None recorded: no file reached an outcome (see the result above).",
      "",
    );
  else {
    out.push(
      table(
        ["File", "Outcome", "Reason", "Server answer", "Run"],
        ["l", "l", "l", "l", "l"],
        r.problems.map((f) => [
          cell(f.filename),
          f.outcome + (f.code ? ` (${f.code})` : ""),
          cell(f.reason),
          cell(f.serverAnswer, 200),
          f.run,
        ]),
      ),
      "",
    );
  }

  if (r.ignored.length) {
    out.push("## Ignored at the source", "");
    out.push(`${plural(r.ignored.length, "file")} at the source not copied (not distributions):`, "");
    out.push(
      table(
        ["File", "Why"],
        ["l", "l"],
        r.ignored.map((i) => [cell(i.name), cell(i.reason)]),
      ),
      "",
    );
  }

  out.push("## Not carried over by the upload protocol", "");
  out.push(
    "The upload form (what twine sends) has no field for these; the destination shows its own values instead.",
    "",
  );
  if (!r.notCarried.length) out.push("Nothing: the source recorded no upload times, yanks or notes.", "");
  else {
    const body = table(
      ["File", "Upload time at the source", "Yanked at the source", "Notes"],
      ["l", "l", "l", "l"],
      r.notCarried.map((n) => [
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
    // Long lists fold away on GitHub/GitLab; the table still renders inside.
    out.push(
      `<details><summary>${plural(r.notCarried.length, "file")}</summary>`,
      "",
      body,
      "",
      "</details>",
      "",
    );
  }

  if (r.verification) {
    const v = r.verification;
    out.push(`## Verification (verify run ${v.run})`, "");
    out.push(
      table(
        ["Status", "Files"],
        ["l", "r"],
        (["ok", "missing", "different", "unverifiable"] as const).map((s) => [s, v.counts[s]]),
      ),
      "",
    );
    const checkedBy = Object.keys(v.by).sort();
    if (checkedBy.length) {
      out.push(
        table(
          ["Checked by", "Files"],
          ["l", "r"],
          checkedBy.map((k) => [verificationText(k), v.by[k] ?? 0]),
        ),
        "",
      );
    }
    if (v.problems.length) {
      out.push(
        table(
          ["File", "Status", "Detail"],
          ["l", "l", "l"],
          v.problems.map((p) => [cell(p.filename), p.status, cell(p.detail)]),
        ),
        "",
      );
    }
  }
  return out.join("\n");
}
