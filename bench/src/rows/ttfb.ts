/**
 * Time to first byte on an idle server: sequential connections, each a full handshake, from
 * before the TCP connect until the first echoed byte is read (median of the samples of a
 * measurement). effect-tls on both ends, default bridge path and native path.
 */
import type { End } from "../protocol.js"
import type { Env, Row } from "../rounds.js"
import { atMost, BRIDGE, NATIVE, RAW, withServer } from "./tcp.js"

const measure = (env: Env, end: End) => (warmup: boolean) =>
  withServer(
    env,
    { ...end, mode: "echo" },
    (port) => env.client.call("ttfb", { ...end, port, count: warmup ? 3 : env.settings.ttfbSamples })
  )

export const ttfb = (env: Env): Row => ({
  id: "ttfb",
  variants: [
    { name: "raw", measure: measure(env, RAW) },
    { name: "bridge", measure: measure(env, BRIDGE) },
    { name: "native", measure: measure(env, NATIVE) }
  ],
  figures: (["bridge", "native"] as const).map((path) => ({
    label: `time to first byte, full, idle server (${path})`,
    metric: "ms",
    unit: "ms",
    raw: "raw",
    effect: path,
    compare: "diff" as const,
    target: "≤ raw + 0.2 ms",
    met: atMost(0.2)
  }))
})
