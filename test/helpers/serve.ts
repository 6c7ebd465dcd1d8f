/** Starts `pyreg serve`'s server in-process on a free loopback port, for e2e tests. */
import { mkdir } from "node:fs/promises";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server/index.js";

export interface ServeHandle {
  /** `http://127.0.0.1:PORT/`: the upload URL. */
  url: string;
  /** `url + "simple/"`: the index URL for pip and for pyreg's simple source. */
  indexUrl: string;
  close(): Promise<void>;
  server: RunningServer;
  /** Request log lines, for assertions (never printed unless PYREG_TEST_SERVE_LOG is set). */
  logs: string[];
}

export async function startServe(root: string, opts: Omit<ServerOptions, "root"> = {}): Promise<ServeHandle> {
  await mkdir(root, { recursive: true });
  const logs: string[] = [];
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    log: (line) => {
      logs.push(line);
      if (process.env["PYREG_TEST_SERVE_LOG"]) process.stderr.write(`[serve] ${line}\n`);
    },
    ...opts,
    root,
  });
  return { url: server.url, indexUrl: `${server.url}simple/`, close: () => server.close(), server, logs };
}
