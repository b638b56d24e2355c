/**
 * Server churn: `churnLoops` raw node:tls client loops, each connecting, echoing 4 KiB and
 * closing, for `churnSeconds` per round (the full run: 60 s per server over its rounds),
 * against a raw node:tls server and an effect-tls server (default path). The client loops run in
 * the raw node:tls client process for both servers: only the server differs.
 */
import type { End } from "../protocol.js"
import type { Env, Row } from "../rounds.js"
import { atLeast, DEFAULT, RAW, withServer } from "./tcp.js"

const measure = (env: Env, end: End) => (_warmup: boolean) =>
  withServer(env, { ...end, mode: "echo" }, (port) =>
    env.ends("raw").client.call("churn", {
      port,
      seconds: env.settings.churnSeconds,
      loops: env.settings.churnLoops
    }))

export const churn = (env: Env): Row => ({
  id: "churn",
  warmups: Math.min(1, env.settings.warmups),
  variants: [
    { name: "raw", measure: measure(env, RAW) },
    { name: "effect-tls", measure: measure(env, DEFAULT) }
  ],
  figures: [{
    label: `server churn: connect / 4 KiB echo / close, ${env.settings.churnLoops} client loops`,
    metric: "rate",
    unit: "conn/s",
    raw: "raw",
    effect: "effect-tls",
    compare: "ratio",
    target: "≥ 0.90 ×",
    met: atLeast(0.9)
  }]
})
