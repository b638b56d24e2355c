/**
 * Heap per idle connection: the client child opens `idleConnections` connections to the
 * server child and keeps them open, idle; each child reports its settled heap (after full
 * collections, `--expose-gc`) minus the heap before, per connection.
 */
import type { End } from "../protocol.js"
import type { Env, Row } from "../rounds.js"
import { atMost, DEFAULT, RAW, withServer } from "./tcp.js"

const measure = (env: Env, end: End) => () =>
  withServer(env, { ...end, mode: "hold", heap: true }, async (port) => {
    const metrics = await env.ends(end.impl).client.call("hold", { ...end, port, count: env.settings.idleConnections })
    return metrics
  }).finally(() => env.ends(end.impl).client.call("release", {}))

export const heap = (env: Env): Row => ({
  id: "heap",
  // (one warm-up: the first connections' compiled code is not per-connection heap)
  warmups: Math.min(1, env.settings.warmups),
  variants: [
    { name: "raw", measure: measure(env, RAW) },
    { name: "effect-tls", measure: measure(env, DEFAULT) }
  ],
  figures: (["client", "server"] as const).map((side) => ({
    label: `heap per idle connection (${env.settings.idleConnections} open), ${side}`,
    metric: side === "client" ? "heapKiB" : "server.heapKiB",
    unit: "KiB",
    raw: "raw",
    effect: "effect-tls",
    compare: "diff" as const,
    target: "≤ raw + 16 KiB",
    met: atMost(16)
  }))
})
