import { compare, valid } from "@renovatebot/pep440";

/** Sorts PEP 440 versions with a real implementation; invalid versions sort after, as strings. */
export function compareVersions(a: string, b: string): number {
  const va = valid(a);
  const vb = valid(b);
  if (va && vb) return compare(a, b);
  if (va) return -1;
  if (vb) return 1;
  return a.localeCompare(b);
}
