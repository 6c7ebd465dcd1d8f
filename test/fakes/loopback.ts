/** The fakes' shared plumbing: an HTTP server on 127.0.0.1 at a free port, closed with its connections. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Loopback {
  server: Server;
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves `handle` on loopback. A handler that throws answers 500 with the error, written by
 * `onError` when the fake imitates a registry's error body.
 */
export async function listenLoopback(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onError: (err: unknown, res: ServerResponse) => void = (err, res) => {
    res.statusCode = 500;
    res.end(String(err));
  },
): Promise<Loopback> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => onError(err, res));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
