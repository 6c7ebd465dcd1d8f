/**
 * Applies the selection rules (./rules.ts), in one place, for list, plan, migrate and verify alike.
 * Every file a rule leaves out comes back with the rule's name and a reason; every rule counts
 * what it matched, so a rule that matched nothing becomes a warning instead of a silent no-op.
 *
 * Models: Pulp's Python remotes (includes/excludes with PEP 440 specifiers, prereleases,
 * package_types, exclude_platforms) and bandersnatch's filter plugins (latest releases,
 * pre-releases, platforms, sizes).
 */
import picomatch from "picomatch";
import { compare, eq, satisfies } from "@renovatebot/pep440";
import { versionRuns } from "../versions.js";
import type { DistFile } from "../model.js";
import { sha256Of } from "../model.js";
import { formatBytes, plural } from "../units.js";
import { isoMicros, type Pin, type PinnedFile, type Rule } from "./rules.js";
import { factsOf, platformFamily, versionFacts, type FileFacts } from "./tags.js";

export * from "./rules.js";
export * from "./tags.js";

/** Why a file or project was left out: the rule's name and what it saw. */
export interface Exclusion {
  rule: string;
  /** "<rule>: <detail>", readable on its own (reports keep only this). */
  reason: string;
}

/** A pinned file that the source cannot give as pinned: missing, or other bytes. */
export interface SelectionProblem {
  project: string;
  version: string;
  filename?: string | undefined;
  rule: string;
  reason: string;
}

export interface ProjectSelection {
  /** The files left out, each with its rule. Files not in the map are selected. */
  filtered: Map<DistFile, Exclusion>;
  /** Pinned files the source lacks or holds with another sha256 (each is exit 1). */
  problems: SelectionProblem[];
}

type Verdict = "match" | "miss" | "n/a" | { unknown: string };

interface Stats {
  /** Projects whose name the rule's glob matched (include/exclude). */
  projects: number;
  /** Files the rule matched (kept by a keep rule, or left out by a drop rule). */
  files: number;
  /** Files whose fact the rule needs is unknown at the source. */
  unknown: number;
}

const isKeep = (r: Rule): boolean =>
  r.kind === "include" ||
  r.kind === "package-types" ||
  r.kind === "uploaded" ||
  r.kind === "max-file-size" ||
  r.kind === "requirements" ||
  ((r.kind === "platforms" || r.kind === "python-tags") && r.keep);

export class Selection {
  private readonly stats = new Map<Rule, Stats>();
  private readonly globs = new Map<Rule, (s: string) => boolean>();
  private readonly includes: Rule[];
  private readonly pinsByProject = new Map<string, Pin[]>();

  constructor(readonly rules: readonly Rule[]) {
    for (const r of rules) {
      this.stats.set(r, { projects: 0, files: 0, unknown: 0 });
      if (r.kind === "include" || r.kind === "exclude") this.globs.set(r, picomatch(r.glob));
      if (r.kind === "platforms" || r.kind === "python-tags") this.globs.set(r, picomatch(r.patterns));
      if (r.kind === "requirements") {
        for (const p of r.pins)
          this.pinsByProject.set(p.project, [...(this.pinsByProject.get(p.project) ?? []), p]);
      }
    }
    this.includes = rules.filter((r) => r.kind === "include");
  }

  /** True when any rule is set (otherwise everything is selected). */
  get active(): boolean {
    return this.rules.length > 0;
  }

  private stat(r: Rule): Stats {
    return this.stats.get(r) as Stats;
  }

  private glob(r: Rule, s: string): boolean {
    return (this.globs.get(r) as (s: string) => boolean)(s);
  }

  /**
   * Project-level rules, decided from the name alone so that left-out projects are never listed:
   * --include globs, --exclude without a specifier, and --requirements (projects no lock pins).
   */
  project(project: string): Exclusion | undefined {
    let out: Exclusion | undefined;
    const matchedIncludes = this.includes.filter((r) => this.glob(r, project));
    for (const r of matchedIncludes) this.stat(r).projects++;
    if (this.includes.length && !matchedIncludes.length) {
      const rule = this.includes.map((r) => r.name).join("; ");
      out ??= { rule, reason: `${rule}: the project matches no --include pattern` };
    }
    for (const r of this.rules) {
      if (r.kind !== "exclude" || !this.glob(r, project)) continue;
      this.stat(r).projects++;
      if (r.specifier === undefined) {
        this.stat(r).files++;
        out ??= { rule: r.name, reason: `${r.name}: the project is excluded` };
      }
    }
    for (const r of this.rules) {
      if (r.kind !== "requirements") continue;
      if (!this.pinsByProject.has(project))
        out ??= { rule: r.name, reason: `${r.name}: no lock file pins this project` };
    }
    return out;
  }

  /** Pinned projects, so a caller can report those the source does not list at all. */
  pinnedProjects(): string[] {
    return [...this.pinsByProject.keys()];
  }

  /**
   * Selects among one project's files (those an adapter already left out, with a `filtered` note,
   * are not looked at). The project must have passed project().
   */
  files(project: string, files: readonly DistFile[]): ProjectSelection {
    const filtered = new Map<DistFile, Exclusion>();
    const problems: SelectionProblem[] = [];
    const candidates = files.filter((f) => !f.notes?.["filtered"]);
    const matchedIncludes = this.includes.filter((r) => this.glob(r, project));
    for (const f of candidates) {
      const facts = factsOf(f.filename);
      let first: Exclusion | undefined;
      // The includes matching this project form one rule: a file is kept when any of them keeps it.
      if (matchedIncludes.length) {
        const verdicts = matchedIncludes.map((r) => this.verdict(r, f, facts));
        verdicts.forEach((v, i) => {
          if (v === "match") this.stat(matchedIncludes[i] as Rule).files++;
        });
        if (!verdicts.includes("match")) {
          const rule = matchedIncludes.map((r) => r.name).join("; ");
          const valid = versionFacts(f.version).valid;
          first = {
            rule,
            reason: `${rule}: ${valid ? `version ${f.version} is outside the specifier set` : `version "${f.version}" is not a PEP 440 version, so no specifier matches it`}`,
          };
        }
      }
      for (const r of this.rules) {
        if (r.kind === "include" || r.kind === "latest") continue;
        if (r.kind === "exclude" && !this.glob(r, project)) continue;
        const v = this.verdict(r, f, facts);
        const s = this.stat(r);
        if (v === "n/a") continue;
        if (v === "match") s.files++;
        let out: boolean;
        if (typeof v === "object") {
          s.unknown++;
          out = true;
        } else out = isKeep(r) ? v === "miss" : v === "match";
        if (out && !first) first = { rule: r.name, reason: `${r.name}: ${this.detail(r, f, facts, v)}` };
      }
      if (first) filtered.set(f, first);
    }
    for (const r of this.rules) {
      if (r.kind === "latest") this.latest(r, candidates, filtered);
      if (r.kind === "requirements") problems.push(...this.pinProblems(r, project, candidates));
    }
    return { filtered, problems };
  }

  private verdict(r: Rule, f: DistFile, facts: FileFacts): Verdict {
    switch (r.kind) {
      case "include":
      case "exclude": {
        if (r.specifier === undefined) return "match";
        // Pre-releases inside the range are matched: whether they move is --prereleases' call.
        if (!versionFacts(f.version).valid) return "miss";
        return satisfies(f.version, r.specifier, { prereleases: true }) ? "match" : "miss";
      }
      case "prereleases":
        return versionFacts(f.version).prerelease ? "match" : "miss";
      case "package-types":
        return r.types.includes(facts.type) ? "match" : "miss";
      case "platforms":
      case "python-tags": {
        const tags = r.kind === "platforms" ? facts.platformTags : facts.pythonTags;
        // Platform and python tags are a wheel's; sdists and other files have none to judge.
        if (!tags) return "n/a";
        const hit = (t: string): boolean =>
          this.glob(r, t) || (r.kind === "platforms" && r.patterns.includes(platformFamily(t) ?? "\0"));
        // A compressed tag set (py2.py3, manylinux_2_17_x86_64.manylinux2014_x86_64) is one file
        // for several tags: it is kept when any of its tags is wanted, and left out only when
        // every one of its tags is excluded.
        return (r.keep ? tags.some(hit) : tags.every(hit)) ? "match" : "miss";
      }
      case "uploaded": {
        const t = f.uploadTime ? isoMicros(f.uploadTime) : undefined;
        if (t === undefined)
          return {
            unknown: f.uploadTime
              ? `the source gives an upload time that is not ISO 8601 ("${f.uploadTime}")`
              : "the source gives no upload time for this file",
          };
        return (r.bound === "since" ? t >= r.at : t < r.at) ? "match" : "miss";
      }
      case "max-file-size":
        if (f.size === undefined) return { unknown: "the source gives no size for this file" };
        return f.size <= r.bytes ? "match" : "miss";
      case "requirements":
        return this.pinOf(r, f) ? "match" : "miss";
      case "latest":
        return "n/a";
    }
  }

  private detail(r: Rule, f: DistFile, facts: FileFacts, v: Verdict): string {
    if (typeof v === "object") return `${v.unknown}, so it is left out`;
    switch (r.kind) {
      case "exclude":
        return `version ${f.version} is excluded`;
      case "prereleases":
        return `${f.version} is a pre-release`;
      case "package-types":
        return `${facts.type === "other" ? "neither a wheel nor an sdist" : `an ${facts.type}`}`;
      case "platforms":
        return r.keep
          ? `platform tag ${facts.platformTags?.join(".")} is none of ${r.patterns.join(", ")}`
          : `platform tag ${facts.platformTags?.join(".")} is excluded`;
      case "python-tags":
        return r.keep
          ? `python tag ${facts.pythonTags?.join(".")} is none of ${r.patterns.join(", ")}`
          : `python tag ${facts.pythonTags?.join(".")} is excluded`;
      case "uploaded":
        return `uploaded ${f.uploadTime}`;
      case "max-file-size":
        return `${formatBytes(f.size ?? 0)} (${f.size} bytes) is over the limit`;
      case "requirements": {
        const pins = this.pinsByProject.get(f.project) ?? [];
        if (pins.some((p) => p.files.some((pf) => pf.filename === f.filename)))
          return "its sha256 is not the one the lock pins (see the problems)";
        return pins.some((p) => sameVersion(p.version, f.version))
          ? "not one of the files the lock pins for this version"
          : `version ${f.version} is not pinned (pinned: ${pins.map((p) => p.version).join(", ")})`;
      }
      default:
        return "left out";
    }
  }

  /** The pinned file entry matching this file, if a lock pins it. */
  private pinOf(r: Rule & { kind: "requirements" }, f: DistFile): PinnedFile | true | undefined {
    for (const p of r.pins) {
      if (p.project !== f.project || !sameVersion(p.version, f.version)) continue;
      if (!p.files.length) return true;
      const sha = sha256Of(f);
      for (const pf of p.files) {
        if (pf.filename !== undefined) {
          // Same name, other bytes than the lock's: not the pinned file (a problem, see pinProblems).
          if (pf.filename === f.filename && (pf.sha256 === undefined || pf.sha256.toLowerCase() === sha))
            return pf;
        } else if (pf.sha256 !== undefined && sha !== undefined && pf.sha256.toLowerCase() === sha) return pf;
      }
    }
    return undefined;
  }

  private pinProblems(
    r: Rule & { kind: "requirements" },
    project: string,
    files: readonly DistFile[],
  ): SelectionProblem[] {
    const out: SelectionProblem[] = [];
    for (const p of this.pinsByProject.get(project) ?? []) {
      const ofVersion = files.filter((f) => sameVersion(p.version, f.version));
      const base = { project, version: p.version, rule: r.name };
      if (!p.files.length) {
        if (!ofVersion.length)
          out.push({
            ...base,
            reason: `${r.name}: ${project}==${p.version} (${p.origin}) has no file at the source`,
          });
        continue;
      }
      for (const pf of p.files) {
        if (pf.filename !== undefined) {
          const f = ofVersion.find((x) => x.filename === pf.filename);
          if (!f) {
            out.push({
              ...base,
              filename: pf.filename,
              reason: `${r.name}: ${pf.filename} (${p.origin}) is not at the source`,
            });
          } else if (pf.sha256 !== undefined) {
            const have = sha256Of(f);
            if (have === undefined) {
              out.push({
                ...base,
                filename: pf.filename,
                reason: `${r.name}: the source publishes no sha256 for ${pf.filename}, so it cannot be checked against the lock (${p.origin})`,
              });
            } else if (have !== pf.sha256.toLowerCase()) {
              out.push({
                ...base,
                filename: pf.filename,
                reason: `${r.name}: ${pf.filename} at the source has sha256 ${have}, the lock (${p.origin}) says ${pf.sha256.toLowerCase()}`,
              });
            }
          }
        } else if (pf.sha256 !== undefined) {
          const want = pf.sha256.toLowerCase();
          if (!ofVersion.some((f) => sha256Of(f) === want)) {
            out.push({
              ...base,
              reason: `${r.name}: no file of ${project} ${p.version} at the source has sha256 ${want} (${p.origin})`,
            });
          }
        }
      }
    }
    return out;
  }

  /**
   * Pins of projects the source does not list at all (each is a problem). `inScope` leaves out the
   * projects of other shards: they are another run's business.
   */
  unlistedPins(
    listed: readonly string[],
    inScope: (project: string) => boolean = () => true,
  ): SelectionProblem[] {
    const out: SelectionProblem[] = [];
    // A set of the source's names only when something is pinned: a million-file source lists
    // about 100,000 projects, and `pyreg plan` peaks in memory just as they are listed.
    let names: ReadonlySet<string> | undefined;
    for (const r of this.rules) {
      if (r.kind !== "requirements") continue;
      for (const p of r.pins) {
        names ??= new Set(listed);
        if (names.has(p.project) || !inScope(p.project)) continue;
        out.push({
          project: p.project,
          version: p.version,
          rule: r.name,
          reason: `${r.name}: ${p.project}==${p.version} (${p.origin}): the source has no project ${p.project}`,
        });
      }
    }
    return out;
  }

  private latest(
    r: Rule & { kind: "latest" },
    files: readonly DistFile[],
    filtered: Map<DistFile, Exclusion>,
  ): void {
    const left = files.filter((f) => !filtered.has(f));
    // The `count` highest versions, each with all its spellings ("1.0" and "1.0.0" are one PEP 440
    // version); a file is kept by its spelling's membership in a set, not by comparing it again.
    const runs = versionRuns(
      [...new Set(left.map((f) => f.version))].filter((v) => versionFacts(v).valid),
      (a, b) => compare(b, a),
    ).slice(0, r.count);
    const keep = runs.map((run) => run[0] as string);
    const kept = new Set(runs.flat());
    const named = keep.join(", ");
    for (const f of left) {
      if (kept.has(f.version)) continue;
      this.stat(r).files++;
      filtered.set(f, {
        rule: r.name,
        reason: versionFacts(f.version).valid
          ? `${r.name}: ${f.version} is not among the ${r.count} latest versions (${named})`
          : `${r.name}: "${f.version}" is not a PEP 440 version, so it has no place in the order`,
      });
    }
  }

  /** Rules that matched nothing, and files left out for want of a fact: one line each. */
  warnings(): string[] {
    const out: string[] = [];
    for (const r of this.rules) {
      const s = this.stat(r);
      if ((r.kind === "include" || r.kind === "exclude") && s.projects === 0) {
        out.push(`${r.name} matched no project`);
      } else if (r.kind === "include" && s.files === 0) {
        out.push(
          r.specifier === undefined
            ? `${r.name} matched no file`
            : `${r.name} matched no file (no version of the matching projects is in the specifier set)`,
        );
      } else if (s.files === 0) {
        out.push(isKeep(r) ? `${r.name} matched no file` : `${r.name} matched no file: it left nothing out`);
      }
      if (r.kind === "requirements") out.push(...r.notes);
      if (s.unknown > 0) {
        const what = r.kind === "uploaded" ? "no upload time" : "no size";
        out.push(
          `${r.name}: ${plural(s.unknown, "file")} with ${what} at the source left out (listed as filtered)`,
        );
      }
    }
    return out;
  }
}

function sameVersion(a: string, b: string): boolean {
  if (versionFacts(a).valid && versionFacts(b).valid) return eq(a, b);
  return a === b;
}
