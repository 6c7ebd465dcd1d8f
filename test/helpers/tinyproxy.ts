/**
 * A real forward proxy for e2e tests: Debian's tinyproxy, started on a free loopback port with its
 * own configuration and log in a temporary folder (tinyproxy.conf(5)). Its log says which requests
 * went through it: "Request (file descriptor N): GET http://host:port/path HTTP/1.1" for plain
 * HTTP, "... CONNECT host:port HTTP/1.1" for tunnels.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, connect, type AddressInfo } from "node:net";
import { join } from "node:path";

export interface Tinyproxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** The request lines tinyproxy logged so far ("GET http://...", "CONNECT host:port"). */
  requests(): Promise<string[]>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startTinyproxy(
  dir: string,
  opts: { connectPorts?: number[]; basicAuth?: { user: string; password: string } } = {},
): Promise<Tinyproxy> {
  const port = await freePort();
  const log = join(dir, "tinyproxy.log");
  const conf = join(dir, "tinyproxy.conf");
  await writeFile(
    conf,
    [
      `Port ${port}`,
      "Listen 127.0.0.1",
      "Timeout 60",
      `LogFile "${log}"`,
      "LogLevel Connect",
      "MaxClients 50",
      "Allow 127.0.0.1",
      // CONNECT is allowed only to the listed ports (tinyproxy.conf(5), ConnectPort).
      ...(opts.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      ...(opts.basicAuth ? [`BasicAuth ${opts.basicAuth.user} ${opts.basicAuth.password}`] : []),
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("tinyproxy", ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.on("exit", () => (exited = true));
  // Ready when it accepts connections (bounded: 200 tries, 25 ms apart).
  for (let i = 0; ; i++) {
    if (await canConnect(port)) break;
    if (exited || i >= 200) {
      child.kill("SIGKILL");
      throw new Error(`tinyproxy did not start on port ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: async () => {
      const text = await readFile(log, "utf8").catch(() => "");
      return [...text.matchAll(/Request \(file descriptor \d+\): (\S+ \S+)/g)].map((m) => m[1] as string);
    },
    close: async () => {
      if (exited) return;
      const done = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      await done;
    },
  };
}
