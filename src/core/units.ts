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
