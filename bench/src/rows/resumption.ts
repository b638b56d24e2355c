/**
 * Resumed handshakes, `concurrency` loops after one priming connection: raw node:tls
 * passing the first session to every connection (it reuses the ticket) against effect-tls
 * on both ends with its default cache (single-use tickets) and with a `SessionCache` that
 * hands its newest ticket out again (ticket reuse allowed). Each reports how many resumed.
 */
import type { End, Resume } from "../protocol.js"
import type { Env, Row } from "../rounds.js"
import { atLeast, DEFAULT, RAW, withServer } from "./tcp.js"

const measure = (env: Env, end: End, resume: Resume) => async (_warmup: boolean) => {
  const metrics = await withServer(
    env,
    { ...end, mode: "echo" },
    (port) =>
      env.ends(end.impl).client.call("handshakes", {
        ...end,
        port,
        count: env.settings.handshakes,
        concurrency: env.settings.concurrency,
        resume
      })
  )
  return { ...metrics, resumedPct: (100 * (metrics.resumed ?? 0)) / (metrics.count ?? 1) }
}

export const resumption = (env: Env): Row => ({
  id: "resumption",
  warmups: env.settings.handshakeWarmups,
  variants: [
    { name: "raw", measure: measure(env, RAW, "raw-reuse") },
    { name: "single-use", measure: measure(env, DEFAULT, "single-use") },
    { name: "reuse", measure: measure(env, DEFAULT, "reuse") }
  ],
  figures: [
    {
      label: "resumed handshakes/s, default cache (single-use tickets)",
      metric: "rate",
      unit: "/s",
      raw: "raw",
      effect: "single-use",
      compare: "ratio",
      target: "(informative)"
    },
    {
      label: "resumed share, default cache (single-use tickets)",
      metric: "resumedPct",
      unit: "%",
      raw: "raw",
      effect: "single-use",
      compare: "none",
      target: "(informative)"
    },
    {
      label: "resumed handshakes/s, ticket reuse allowed",
      metric: "rate",
      unit: "/s",
      raw: "raw",
      effect: "reuse",
      compare: "ratio",
      target: "≥ 0.90 ×",
      met: atLeast(0.9)
    },
    {
      label: "resumed share, ticket reuse allowed",
      metric: "resumedPct",
      unit: "%",
      raw: "raw",
      effect: "reuse",
      compare: "none",
      target: "≥ 95 %",
      met: atLeast(95)
    },
    ...(["cpuMs", "server.cpuMs"] as const).map((metric) => ({
      label: `${metric === "cpuMs" ? "client" : "server"} CPU per resumed handshake, ticket reuse allowed`,
      metric,
      unit: "ms",
      raw: "raw",
      effect: "reuse",
      compare: "ratio" as const,
      target: "(informative)"
    }))
  ]
})
