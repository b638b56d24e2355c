/**
 * A peer that never reads: an effect-tls client tries to push `pushBytes` to an effect-tls
 * server that completed its handshake and reads nothing. The writer must suspend (no write
 * completes for `stallMs`) long before, and neither process's RSS may grow.
 */
import type { Env, Medians, Row } from "../rounds.js"
import { DEFAULT, withServer } from "./tcp.js"

const MiB = 1024 * 1024
const FLAT_MIB = 64

const closeTimes = (medians: Medians) =>
  medians.samples("effect-tls", "closeMs").map((ms) => ms < 0 ? "did not finish" : `${ms.toFixed(0)} ms`).join(", ")

export const nonReading = (env: Env): Row => ({
  id: "non-reading",
  warmups: 0,
  variants: [{
    name: "effect-tls",
    measure: () =>
      withServer(
        env,
        { ...DEFAULT, mode: "noRead" },
        (port) =>
          env.ends(DEFAULT.impl).client.call("push", {
            port,
            total: env.settings.pushBytes,
            stallMs: env.settings.stallMs
          })
      )
  }],
  figures: [{
    label: `non-reading peer, ${env.settings.pushBytes / MiB} MiB pushed: client RSS growth`,
    metric: "rssGrowthMiB",
    unit: "MiB",
    effect: "effect-tls",
    compare: "none",
    target: "writer suspends, RSS flat",
    met: (_, medians) =>
      medians.samples("effect-tls", "suspended").every((s) => s === 1) &&
      Math.max(...medians.samples("effect-tls", "rssGrowthMiB")) < FLAT_MIB &&
      Math.max(...medians.samples("effect-tls", "server.rssGrowthMiB")) < FLAT_MIB,
    note: (medians) =>
      `suspended after ${medians.of("effect-tls", "acceptedMiB").toFixed(2)} MiB accepted ` +
      `(${medians.samples("effect-tls", "suspended").filter((s) => s === 1).length}/` +
      `${medians.samples("effect-tls", "suspended").length} rounds); ` +
      `server RSS ${medians.of("effect-tls", "server.rssGrowthMiB").toFixed(1)} MiB; client close after the ` +
      `stall: ${closeTimes(medians)}`
  }]
})
