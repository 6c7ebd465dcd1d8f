/**
 * A registry in its own process, so that the source, the destination and the contender each have
 * an event loop: `node dist/bench/serveChild.js serve ROOT` runs pyreg serve's startServer.
 * Prints `{"url": ...}` on one line once listening; stops on SIGTERM or when stdin closes. It
 * counts the requests it answered by method and status ("GET 304"), and prints
 * `{"requests": {...}}` on one line on SIGUSR2 (the re-run figures, bench/rerun.ts).
 */
import { startServer } from "../src/server/index.js";
import { preferThroughputGc } from "../src/cli/gc.js";

async function main(): Promise<void> {
  // As `pyreg serve` runs: bin/pyreg applies the same settings (src/cli/gc.ts).
  preferThroughputGc();
  const [mode, arg] = process.argv.slice(2);
  let close: () => Promise<void>;
  let url: string;
  if (mode === "serve" && arg) {
    const counts: Record<string, number> = {};
    const s = await startServer({
      root: arg,
      host: "127.0.0.1",
      port: 0,
      // One line per request: "METHOD PATH STATUS BYTES ..." (src/server/index.ts).
      log: (line) => {
        const [method, , status] = line.split(" ");
        if (!method || !status || !/^\d{3}$/.test(status)) return;
        const k = `${method} ${status}`;
        counts[k] = (counts[k] ?? 0) + 1;
      },
    });
    process.on("SIGUSR2", () => process.stdout.write(JSON.stringify({ requests: counts }) + "\n"));
    url = s.url;
    close = () => s.close();
  } else {
    process.stderr.write("usage: serveChild serve ROOT\n");
    process.exit(2);
  }
  const stop = (): void => {
    void close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
  process.stdout.write(JSON.stringify({ url }) + "\n");
}

void main();
