/** openRegistry: a source or destination from its spec, for direct use (list, open, upload). */
import type { Destination, Source } from "../model.js";
import type { RunControl } from "./events.js";
import {
  openFrom,
  openRuntime,
  openTo,
  withDefaults,
  type RunOptions,
  type WithDefaults,
} from "./options.js";

export type OpenedRegistry<S extends "source" | "destination"> = (S extends "source"
  ? Source
  : Destination) & {
  /** Closes the connections opened for it. */
  close(): Promise<void>;
};

/**
 * Opens a registry as pyreg reads it (`side: "source"`) or writes to it (`"destination"`): a
 * folder, a simple index URL, an upload URL, or KIND+https://... Throws a PyregError when it cannot
 * be reached or its credentials are refused.
 */
export async function openRegistry<S extends "source" | "destination">(
  spec: string,
  side: S,
  opts: WithDefaults<RunOptions> & Pick<RunControl, "onEvent"> = {},
): Promise<OpenedRegistry<S>> {
  const rt = openRuntime(withDefaults<RunOptions>(opts), (e) => opts.onEvent?.(e));
  try {
    const reg = side === "source" ? await openFrom(spec, rt) : await openTo(spec, rt);
    const own = reg.close?.bind(reg);
    return Object.assign(reg, {
      close: async () => {
        await own?.();
        await rt.close();
      },
    }) as OpenedRegistry<S>;
  } catch (err) {
    await rt.close();
    throw err;
  }
}
