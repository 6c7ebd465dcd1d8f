import picomatch from "picomatch";
import { normalizeName } from "./names.js";

/** --include / --exclude globs, matched on normalized project names (PEP 503). */
export function projectFilter(
  include: readonly string[],
  exclude: readonly string[],
): (project: string) => string | undefined {
  const norm = (g: string): string => g.toLowerCase().replace(/[-_.]+/g, "-");
  const inc = include.length ? picomatch(include.map(norm)) : undefined;
  const exc = exclude.length ? picomatch(exclude.map(norm)) : undefined;
  /** Returns the reason a project is filtered out, or undefined when it is kept. */
  return (project: string) => {
    const p = normalizeName(project);
    if (inc && !inc(p)) return `not matched by --include ${include.join(", ")}`;
    if (exc && exc(p)) return `matched by --exclude ${exclude.join(", ")}`;
    return undefined;
  };
}
