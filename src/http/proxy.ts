/**
 * Which proxy a request goes through, the way pip (requests, urllib's getproxies) and uv (reqwest)
 * decide it:
 * - `--proxy URL` for every scheme, else `https_proxy` for https:// URLs and `http_proxy` for
 *   http:// URLs, else `all_proxy`; each variable in lower or upper case, the lower-case one first
 *   (urllib.request.getproxies_environment: "prefer lowercase variables");
 * - `no_proxy` / `NO_PROXY`: comma- or space-separated host names (a name also covers its
 *   subdomains; a leading `.` or `*.` is ignored), `host:port`, IP addresses, CIDR blocks
 *   (`10.0.0.0/8`), or `*` for every host. It applies to `--proxy` too (as curl does).
 * A proxy URL without a scheme means http:// (requests' prepend_scheme_if_needed). Proxy
 * credentials (`http://user:password@proxy:3128`) are sent only to the proxy, as
 * Proxy-Authorization, and are redacted everywhere.
 */
import { BlockList, isIP } from "node:net";
import { PyregError } from "../core/errors.js";
import { registerSecret, redactUrl } from "./redact.js";

export interface NoProxyRule {
  /** Host name (lower case, no leading dot), or an IP block. */
  host?: string;
  block?: BlockList;
  port?: number;
}

export interface ProxySettings {
  http?: URL | undefined;
  https?: URL | undefined;
  /** Where the http and https proxies came from, for messages ("--proxy", "HTTPS_PROXY"...). */
  httpSource?: string | undefined;
  httpsSource?: string | undefined;
  /** NO_PROXY: `*` bypasses every host. */
  bypassAll: boolean;
  noProxy: NoProxyRule[];
}

/** The first set variable among the names, lower case before upper case (urllib's order). */
function envVar(env: NodeJS.ProcessEnv, name: string): { name: string; value: string } | undefined {
  for (const n of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[n];
    if (v !== undefined && v.trim() !== "") return { name: n, value: v.trim() };
  }
  return undefined;
}

/** Parses a proxy URL; a bare `host:port` means http://host:port. */
export function parseProxyUrl(raw: string, from: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PyregError("USAGE", `${from}: not a valid proxy URL: ${redactUrl(text)}`, {
      hint: "write the proxy as http://[user:password@]host:port",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PyregError(
      "USAGE",
      `${from}: proxy scheme ${url.protocol.slice(0, -1)} is not supported (${redactUrl(url)})`,
      { hint: "use an http:// or https:// proxy (SOCKS proxies are not supported)" },
    );
  }
  if (url.password) {
    registerSecret(decodeURIComponent(url.password));
    registerSecret(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
  }
  return url;
}

export function parseNoProxy(value: string): { bypassAll: boolean; rules: NoProxyRule[] } {
  const rules: NoProxyRule[] = [];
  let bypassAll = false;
  for (const raw of value.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") {
      bypassAll = true;
      continue;
    }
    // CIDR block or IP address (IPv6 may come in brackets, with or without a port).
    const cidr = /^\[?([0-9a-f:.]+)\]?\/(\d{1,3})$/.exec(entry);
    if (cidr && isIP(cidr[1] as string)) {
      const block = new BlockList();
      const ip = cidr[1] as string;
      block.addSubnet(ip, Number(cidr[2]), isIP(ip) === 6 ? "ipv6" : "ipv4");
      rules.push({ block });
      continue;
    }
    const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      rules.push({ host: bracketed[1] as string, ...(bracketed[2] ? { port: Number(bracketed[2]) } : {}) });
      continue;
    }
    if (isIP(entry)) {
      rules.push({ host: entry });
      continue;
    }
    const hostPort = /^(.*):(\d+)$/.exec(entry);
    const host = (hostPort ? (hostPort[1] as string) : entry).replace(/^\*?\./, "");
    rules.push({ host, ...(hostPort ? { port: Number(hostPort[2]) } : {}) });
  }
  return { bypassAll, rules };
}

/** The proxy settings from `--proxy` and the environment. */
export function proxySettings(env: NodeJS.ProcessEnv, flag?: string): ProxySettings {
  const noProxy = parseNoProxy(envVar(env, "no_proxy")?.value ?? "");
  if (flag !== undefined && flag.trim() !== "") {
    const url = parseProxyUrl(flag.trim(), "--proxy");
    return {
      http: url,
      https: url,
      httpSource: "--proxy",
      httpsSource: "--proxy",
      bypassAll: noProxy.bypassAll,
      noProxy: noProxy.rules,
    };
  }
  const all = envVar(env, "all_proxy");
  const http = envVar(env, "http_proxy") ?? all;
  const https = envVar(env, "https_proxy") ?? all;
  return {
    http: http ? parseProxyUrl(http.value, http.name) : undefined,
    https: https ? parseProxyUrl(https.value, https.name) : undefined,
    httpSource: http?.name,
    httpsSource: https?.name,
    bypassAll: noProxy.bypassAll,
    noProxy: noProxy.rules,
  };
}

function defaultPort(protocol: string): number {
  return protocol === "https:" ? 443 : 80;
}

/** Does NO_PROXY exempt this URL? */
export function bypassed(settings: ProxySettings, url: URL): boolean {
  if (settings.bypassAll) return true;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port ? Number(url.port) : defaultPort(url.protocol);
  const family = isIP(host);
  for (const rule of settings.noProxy) {
    if (rule.port !== undefined && rule.port !== port) continue;
    if (rule.block) {
      if (family && rule.block.check(host, family === 6 ? "ipv6" : "ipv4")) return true;
      continue;
    }
    const h = rule.host as string;
    if (host === h || (!family && host.endsWith(`.${h}`))) return true;
  }
  return false;
}

/** The proxy for this URL, or undefined for a direct connection. */
export function proxyFor(settings: ProxySettings, url: URL): { proxy: URL; source: string } | undefined {
  const proxy = url.protocol === "https:" ? settings.https : settings.http;
  if (!proxy || bypassed(settings, url)) return undefined;
  const source = (url.protocol === "https:" ? settings.httpsSource : settings.httpSource) ?? "proxy";
  return { proxy, source };
}

/** The Proxy-Authorization value for a proxy URL with credentials (Basic, RFC 7617). */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const pair = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(pair).toString("base64")}`;
}

/** The proxy as it may be shown: credentials replaced by ***. */
export function showProxy(proxy: URL, source: string): string {
  return `proxy ${redactUrl(proxy).replace(/\/$/, "")} (from ${source})`;
}
