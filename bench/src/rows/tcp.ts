/** A measurement over loopback TCP: the server child serves, the client child runs. */
import type { KeyName } from "../material.js"
import type { End, Metrics, ServerMode } from "../protocol.js"
import type { Env } from "../rounds.js"

export interface ServerEnd extends End {
  readonly key?: KeyName | undefined
  readonly mode: ServerMode
  readonly total?: number | undefined
  /** Measure the server's settled heap (full collections: slow). */
  readonly heap?: boolean | undefined
}

/**
 * Starts the server, resets its counters, runs the client against its port, and merges
 * the server's own figures (prefixed `server.`) into the client's.
 */
export const withServer = async (
  env: Env,
  end: ServerEnd,
  client: (port: number) => Promise<Metrics>
): Promise<Metrics> => {
  const server = env.ends(end.impl).server
  const { port } = await server.call("serve", {
    impl: end.impl,
    path: end.path,
    key: end.key ?? "p256",
    mode: end.mode,
    total: end.total ?? 0
  })
  try {
    const heap = end.heap === true
    await server.call("mark", { heap })
    const metrics = await client(port)
    const stats = await server.call("stats", { heap })
    return { ...metrics, ...Object.fromEntries(Object.entries(stats).map(([k, v]) => [`server.${k}`, v])) }
  } finally {
    await server.call("stop", {})
  }
}

export const RAW: End = { impl: "raw", path: "native" }
export const RAW_DUPLEX: End = { impl: "raw", path: "duplex" }
/**
 * effect-tls with its default options (over TCP: node:tls on the TCP socket itself).
 * `BENCH_DEFAULT_PATH=bridge` measures the bridge in its place (before/after comparisons).
 */
export const DEFAULT: End = { impl: "effect", path: process.env.BENCH_DEFAULT_PATH === "bridge" ? "bridge" : "default" }
/** effect-tls over a transport the engine cannot take the socket of: node:tls over its JS Duplex. */
export const BRIDGE: End = { impl: "effect", path: "bridge" }
export const NATIVE: End = { impl: "effect", path: "native" }

export const atLeast = (target: number) => (compared: number) => compared >= target
export const atMost = (target: number) => (compared: number) => compared <= target
