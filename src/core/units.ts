/** "1 project", "2 projects": a count with its noun, singular for exactly one. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : nouns}`;
}

/**
 * A total size for people when some sizes are unknown (an index need not give them): "12 MiB",
 * "unknown size", or "12 MiB + 3 files of unknown size". Never "0 B" for files whose size is unknown.
 */
export function formatTotal(bytes: number, unknownFiles: number): string {
  if (unknownFiles === 0) return formatBytes(bytes);
  if (bytes === 0) return "unknown size";
  return `${formatBytes(bytes)} + ${plural(unknownFiles, "file")} of unknown size`;
}

/** Bytes for people: 1023 B, 1.5 KiB, 12 MiB... */
export function formatBytes(n: number): string {
  // Rates are fractions: "259 B", never "259.49620151939223 B".
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
