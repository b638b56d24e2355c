/**
 * Full handshakes over loopback TCP, `concurrency` client loops: raw node:tls on both ends
 * against effect-tls on both ends (default path). No resumption: the effect-tls
 * client runs with `SessionCache.disabled`, the raw client passes no session, and both
 * children fail the measurement if a single handshake resumed. Each end's CPU comes from
 * its own process (`process.cpuUsage`), divided by the handshakes it completed.
 */
import type { KeyName } from "../material.js"
import type { End } from "../protocol.js"
import type { Env, Medians, Row } from "../rounds.js"
import { atLeast, atMost, BRIDGE, DEFAULT, RAW, withServer } from "./tcp.js"

const compareBridge = process.env.BENCH_COMPARE_BRIDGE === "1"

const measure = (env: Env, end: End, key: KeyName) => (_warmup: boolean) =>
  withServer(env, { ...end, key, mode: "echo" }, (port) =>
    env.ends(end.impl).client.call("handshakes", {
      ...end,
      port,
      count: env.settings.handshakes,
      concurrency: env.settings.concurrency,
      resume: "none"
    }))

const resumedNote = (medians: Medians) => {
  const total = (variant: string, metric: string) => medians.samples(variant, metric).reduce((a, b) => a + b, 0)
  return `resumed: raw ${total("raw", "resumed")}/${total("raw", "count")}, ` +
    `effect-tls ${total("effect-tls", "resumed")}/${total("effect-tls", "count")}`
}

/**
 * One end's collections per measurement: the pause time per handshake and the major ones
 * (informative: the same code's CPU per handshake moves with them, see `util.gcSoFar`).
 */
const gcNote = (env: Env, end: "" | "server.") => (medians: Medians) => {
  const perHandshake = (variant: string) =>
    (medians.of(variant, `${end}gcMs`) * 1000 / env.settings.handshakes).toFixed(0)
  const major = (variant: string) => medians.of(variant, `${end}gcMajor`).toFixed(0)
  return `GC pauses per handshake: raw ${perHandshake("raw")} µs, effect-tls ${perHandshake("effect-tls")} µs; ` +
    `major GCs per ${env.settings.handshakes}: raw ${major("raw")}, effect-tls ${major("effect-tls")}`
}

export const full = (env: Env, key: KeyName): Row => {
  const name = key === "p256" ? "P-256" : "RSA-2048"
  const common = { raw: "raw", effect: "effect-tls" } as const
  return {
    id: `handshakes-${key}`,
    warmups: env.settings.handshakeWarmups,
    variants: [
      { name: "raw", measure: measure(env, RAW, key) },
      { name: "effect-tls", measure: measure(env, DEFAULT, key) },
      // (BENCH_COMPARE_BRIDGE=1: the bridge too, interleaved, for before/after comparisons)
      ...(compareBridge ? [{ name: "bridge", measure: measure(env, BRIDGE, key) }] : [])
    ],
    figures: [
      ...(compareBridge
        ? (["cpuMs", "server.cpuMs"] as const).map((metric) => ({
          raw: "raw",
          effect: "bridge",
          label: `${metric === "cpuMs" ? "client" : "server"} CPU per full ${name} handshake, bridge`,
          metric,
          unit: "ms",
          compare: "ratio" as const,
          target: "(informative)",
          met: undefined
        }))
        : []),
      {
        ...common,
        label: `full ${name} handshakes/s, ${env.settings.concurrency} concurrent`,
        metric: "rate",
        unit: "/s",
        compare: "ratio",
        target: "≥ 0.90 ×",
        met: atLeast(0.9),
        note: resumedNote
      },
      {
        ...common,
        label: `client CPU per full ${name} handshake`,
        metric: "cpuMs",
        unit: "ms",
        compare: "ratio",
        target: "≤ 1.15 ×",
        met: atMost(1.15),
        note: gcNote(env, "")
      },
      {
        ...common,
        label: `server CPU per full ${name} handshake`,
        metric: "server.cpuMs",
        unit: "ms",
        compare: "ratio",
        target: "≤ 1.15 ×",
        met: atMost(1.15),
        note: gcNote(env, "server.")
      },
      // (the first warm-up measurement: fresh processes, code not yet compiled)
      ...(["cpuMs", "server.cpuMs"] as const).map((metric) => ({
        ...common,
        label: `${metric === "cpuMs" ? "client" : "server"} CPU per full ${name} handshake, ` +
          `the first ${env.settings.handshakes} of fresh processes`,
        metric,
        unit: "ms",
        compare: "ratio" as const,
        cold: true,
        target: "(informative)"
      }))
    ]
  }
}
