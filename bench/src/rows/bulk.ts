/**
 * Bulk transfer, one connection: the client writes `total` bytes in `chunk`-sized writes;
 * the server counts them and acks with one byte. Over TCP: raw node:tls on its socket and
 * over a plain JS Duplex against effect-tls's default path (over TCP: node:tls on the socket
 * itself) and its bridge (node:tls over the engine's JS Duplex, as for non-TCP transports); over
 * memory: `stream.duplexPair` against `MemoryTransport.pair` (both ends in one child).
 */
import type { End } from "../protocol.js"
import type { Env, Figure, Medians, Row } from "../rounds.js"
import { atLeast, BRIDGE, DEFAULT, RAW, RAW_DUPLEX, withServer } from "./tcp.js"

const KiB = 1024

// The warm-up is a whole measurement: a throughput row measures the steady state, and both
// implementations need tens of MB before the JIT and the heap's sizing settle (a quarter of a
// quick run's transfer left raw node:tls and effect-tls still compiling in the first rounds).
const tcpMeasure = (env: Env, end: End, chunk: number) => async (_warmup: boolean) => {
  const total = env.settings.tcpBytes
  const metrics = await withServer(
    env,
    { ...end, mode: "sink", total },
    (port) => env.ends(end.impl).client.call("bulk", { ...end, port, chunk, total })
  )
  // (the server's CPU over the measurement, its one handshake included, per MB)
  return { ...metrics, "server.cpuMsPerMB": (metrics["server.cpuMs"] ?? NaN) / (total / 1e6) }
}

/**
 * The medians of each side's CPU per MB and major collections per measurement (informative:
 * throughput is the figure; the collections tell which of V8's modes a process ran in, see
 * `util.gcSoFar`).
 */
const cpuNote = (raw: string, effect: string, tcp: boolean) => (medians: Medians) => {
  const ms = (variant: string, metric: string) => medians.of(variant, metric).toFixed(2)
  const gcs = (variant: string, metric: string) => medians.of(variant, metric).toFixed(0)
  return tcp
    ? `CPU per MB, client / server: ${raw} ${ms(raw, "cpuMsPerMB")} / ${ms(raw, "server.cpuMsPerMB")} ms, ` +
      `${effect} ${ms(effect, "cpuMsPerMB")} / ${ms(effect, "server.cpuMsPerMB")} ms; major GCs, client / server: ` +
      `${raw} ${gcs(raw, "gcMajor")} / ${gcs(raw, "server.gcMajor")}, ` +
      `${effect} ${gcs(effect, "gcMajor")} / ${gcs(effect, "server.gcMajor")}`
    : `CPU per MB, both ends: ${raw} ${ms(raw, "cpuMsPerMB")} ms, ${effect} ${ms(effect, "cpuMsPerMB")} ms; ` +
      `major GCs: ${raw} ${gcs(raw, "gcMajor")}, ${effect} ${gcs(effect, "gcMajor")}`
}

const ratio = (
  label: string,
  raw: string,
  effect: string,
  target: number | undefined,
  tcp = true
): Figure => ({
  label,
  metric: "mbps",
  unit: "MB/s",
  raw,
  effect,
  compare: "ratio",
  target: target === undefined ? "(informative)" : `≥ ${target.toFixed(2)} ×`,
  met: target === undefined ? undefined : atLeast(target),
  note: cpuNote(raw, effect, tcp)
})

export const tcp64 = (env: Env): Row => ({
  id: "bulk-tcp-64",
  variants: [
    { name: "raw", measure: tcpMeasure(env, RAW, 64 * KiB) },
    { name: "raw-duplex", measure: tcpMeasure(env, RAW_DUPLEX, 64 * KiB) },
    { name: "default", measure: tcpMeasure(env, DEFAULT, 64 * KiB) },
    { name: "bridge", measure: tcpMeasure(env, BRIDGE, 64 * KiB) }
  ],
  figures: [
    ratio("bulk TCP 64 KiB, default path vs raw native", "raw", "default", 0.9),
    ratio("bulk TCP 64 KiB, bridge (JS Duplex transports) vs raw over a JS Duplex", "raw-duplex", "bridge", 1.0),
    ratio("bulk TCP 64 KiB, raw over a JS Duplex vs raw native", "raw", "raw-duplex", undefined)
  ]
})

export const tcp16 = (env: Env): Row => ({
  id: "bulk-tcp-16",
  variants: [
    { name: "raw", measure: tcpMeasure(env, RAW, 16 * KiB) },
    { name: "default", measure: tcpMeasure(env, DEFAULT, 16 * KiB) }
  ],
  figures: [ratio("bulk TCP 16 KiB, default path vs raw native", "raw", "default", 0.9)]
})

const memoryMeasure = (env: Env, impl: End["impl"], chunk: number, sink?: number) => (_warmup: boolean) =>
  env.ends(impl).client.call("memoryBulk", { impl, chunk, total: env.settings.memoryBytes, sink })

/** The writes a stream chunk of the 16 KiB row's sink variant: 128 KiB, one corked batch of the bridge. */
const SINK_WRITES = 8

export const memory = (env: Env, chunk: number): Row => ({
  id: `bulk-memory-${chunk / KiB}`,
  variants: [
    { name: "raw", measure: memoryMeasure(env, "raw", chunk) },
    { name: "effect-tls", measure: memoryMeasure(env, "effect", chunk) },
    // (16 KiB: the same writes through the connection's sink, the way a stream of buffers goes)
    ...(chunk === 16 * KiB
      ? [{ name: "effect-tls sink", measure: memoryMeasure(env, "effect", chunk, SINK_WRITES) }]
      : [])
  ],
  figures: [
    ratio(`bulk over the memory pair, ${chunk / KiB} KiB (raw: duplexPair)`, "raw", "effect-tls", 1.0, false),
    ...(chunk === 16 * KiB
      ? [ratio(
        `bulk over the memory pair, 16 KiB writes through a sink, ${SINK_WRITES} a stream chunk (raw: duplexPair)`,
        "raw",
        "effect-tls sink",
        undefined,
        false
      )]
      : [])
  ]
})
