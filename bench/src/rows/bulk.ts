/**
 * Bulk transfer, one connection: the client writes `total` bytes in `chunk`-sized writes;
 * the server counts them and acks with one byte. Over TCP: raw node:tls on its socket and
 * over a plain JS Duplex against effect-tls's default path (over TCP: node:tls on the socket
 * itself) and its bridge (node:tls over the engine's JS Duplex, as for non-TCP transports); over
 * memory: `stream.duplexPair` against `MemoryTransport.pair` (both ends in one child).
 */
import type { End } from "../protocol.js"
import type { Env, Figure, Row } from "../rounds.js"
import { atLeast, BRIDGE, DEFAULT, RAW, RAW_DUPLEX, withServer } from "./tcp.js"

const KiB = 1024

const tcpMeasure = (env: Env, end: End, chunk: number) => (warmup: boolean) => {
  const total = warmup ? Math.ceil(env.settings.tcpBytes / 4) : env.settings.tcpBytes
  return withServer(
    env,
    { ...end, mode: "sink", total },
    (port) => env.client.call("bulk", { ...end, port, chunk, total })
  )
}

const ratio = (label: string, raw: string, effect: string, target: number | undefined): Figure => ({
  label,
  metric: "mbps",
  unit: "MB/s",
  raw,
  effect,
  compare: "ratio",
  target: target === undefined ? "(informative)" : `≥ ${target.toFixed(2)} ×`,
  met: target === undefined ? undefined : atLeast(target)
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

const memoryMeasure = (env: Env, impl: End["impl"], chunk: number) => (warmup: boolean) =>
  env.client.call("memoryBulk", {
    impl,
    chunk,
    total: warmup ? Math.ceil(env.settings.memoryBytes / 4) : env.settings.memoryBytes
  })

export const memory = (env: Env, chunk: number): Row => ({
  id: `bulk-memory-${chunk / KiB}`,
  variants: [
    { name: "raw", measure: memoryMeasure(env, "raw", chunk) },
    { name: "effect-tls", measure: memoryMeasure(env, "effect", chunk) }
  ],
  figures: [
    ratio(`bulk over the memory pair, ${chunk / KiB} KiB (raw: duplexPair)`, "raw", "effect-tls", 1.0)
  ]
})
