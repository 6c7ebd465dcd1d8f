/**
 * The parts of undici pyreg uses (Agent, Pool, ProxyAgent and the dispatcher's request and connect
 * methods), each imported from its own module rather than from undici's index.
 *
 * Why: undici's index loads everything it exports (fetch, WebSocket, EventSource, the cache and
 * mock agents), and its cookie module reads `globalThis.Headers`, which makes Node.js load its own
 * bundled copy of undici as well. Every pyreg process paid for that at start-up. In a bundle of
 * the same four names, measured on the 2-core test machine (user + system CPU of `node FILE`,
 * averaged over six runs): undici's index 0.237 s, these modules 0.180 s, an empty module 0.135 s;
 * 734 KB of code against 397 KB.
 *
 * These paths are undici's own layout (nodejs/undici, lib/dispatcher/*.js and lib/api/index.js),
 * not a documented entry point. package.json therefore names one exact version of undici (a
 * range would let an install from the npm registry pick a later 7.x, whose files may have moved),
 * and test/undici.test.ts checks that they are the classes undici's index exports.
 */
import type * as Undici from "undici";
import AgentImpl from "undici/lib/dispatcher/agent.js";
import DispatcherImpl from "undici/lib/dispatcher/dispatcher.js";
import PoolImpl from "undici/lib/dispatcher/pool.js";
import ProxyAgentImpl from "undici/lib/dispatcher/proxy-agent.js";
import api from "undici/lib/api/index.js";

// What undici's index does first: request, stream, pipeline, upgrade and connect become methods
// of every dispatcher (nodejs/undici index.js).
Object.assign(DispatcherImpl.prototype, api);

export const Agent: typeof Undici.Agent = AgentImpl;
export type Agent = Undici.Agent;
export const Pool: typeof Undici.Pool = PoolImpl;
export type Pool = Undici.Pool;
export const ProxyAgent: typeof Undici.ProxyAgent = ProxyAgentImpl;
export type ProxyAgent = Undici.ProxyAgent;
export type { Dispatcher } from "undici";
