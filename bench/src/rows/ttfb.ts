/**
 * Time to first byte on an idle server: sequential connections, each a full handshake, from
 * before the TCP connect until the first echoed byte is read (median of the samples of a
 * measurement). effect-tls on both ends, on the default path (over TCP: node:tls on the socket
 * itself) and on the bridge (node:tls over the engine's JS Duplex, as for non-TCP transports).
 * Each sample starts after a pause (`idle`: the previous connection's teardown is over on both
 * ends). Each warm-up measurement, discarded, first runs `2 × handshakes` concurrent full
 * handshakes against the same server (the handshake rows' loops: the ends' connection code reaches
 * the steady state of a long-lived client and server, which took our ends ~3000 connections),
 * then `WARMUP_SAMPLES` sequential samples (the one-byte echo's path).
 */
import type { End } from "../protocol.js"
import type { Env, Row } from "../rounds.js"
import { atMost, BRIDGE, DEFAULT, RAW, withServer } from "./tcp.js"

const WARMUP_SAMPLES = 200

const measure = (env: Env, end: End) => (warmup: boolean) =>
  withServer(
    env,
    { ...end, mode: "echo" },
    async (port) => {
      const client = env.ends(end.impl).client
      if (warmup) {
        await client.call("handshakes", {
          ...end,
          port,
          count: 2 * env.settings.handshakes,
          concurrency: env.settings.concurrency,
          resume: "none"
        })
      }
      return client.call("ttfb", { ...end, port, count: warmup ? WARMUP_SAMPLES : env.settings.ttfbSamples })
    }
  )

export const ttfb = (env: Env): Row => ({
  id: "ttfb",
  variants: [
    { name: "raw", measure: measure(env, RAW) },
    { name: "default", measure: measure(env, DEFAULT) },
    { name: "bridge", measure: measure(env, BRIDGE) }
  ],
  figures: (["default", "bridge"] as const).map((path) => ({
    label: `time to first byte, full, idle server (${path === "default" ? "default path" : "bridge"})`,
    metric: "ms",
    unit: "ms",
    raw: "raw",
    effect: path,
    compare: "diff" as const,
    target: "≤ raw + 0.2 ms",
    met: atMost(0.2)
  }))
})
