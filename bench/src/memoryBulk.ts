/**
 * Bulk over an in-memory pair, both ends in one child process (there is no socket to put
 * between two processes): raw node:tls over `stream.duplexPair` (64 KiB high-water marks)
 * against effect-tls over `MemoryTransport.pair`. The client writes `total` bytes in
 * `chunk`-sized writes (effect-tls, with `sink`: through the connection's sink, `sink` writes a
 * stream chunk); the time runs until the server has read them all, and so does the CPU
 * measured (`cpuMsPerMB`: both ends, as one process runs them).
 */
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { duplexPair } from "node:stream"
import * as tls from "node:tls"
import { checkRaw, checkSuite, type Material } from "./material.js"
import type { Metrics, Requests } from "./protocol.js"
import { cpuMicros, KiB, now, once, payload } from "./util.js"

/** Wall time and CPU (both ends: one process runs them) of the transfer, in ms. */
interface Took {
  readonly ms: number
  readonly cpuMs: number
}

const raw = async (material: Material, chunk: Uint8Array, total: number): Promise<Took> => {
  const [left, right] = duplexPair({ highWaterMark: 64 * KiB })
  const server = new tls.TLSSocket(right, { isServer: true, secureContext: material.rawServerContext.p256 })
  const client = tls.connect({ socket: left, servername: "localhost", secureContext: material.rawClientContext })
  server.on("error", () => {})
  const received = new Promise<void>((resolve) => {
    let count = 0
    server.on("data", (data: Uint8Array) => {
      count += data.length
      if (count >= total) resolve()
    })
  })
  await once(client, "secureConnect")
  client.on("error", () => {})
  checkRaw(client)
  const cpu = cpuMicros()
  const start = now()
  let sent = 0
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent)
    const ok = client.write(n === chunk.length ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await once(client, "drain")
  }
  await received
  const took = { ms: now() - start, cpuMs: (cpuMicros() - cpu) / 1000 }
  client.destroy()
  server.destroy()
  left.destroy()
  right.destroy()
  return took
}

const effect = (
  runtime: ManagedRuntime.ManagedRuntime<TlsBackend, never>,
  material: Material,
  chunk: Uint8Array,
  total: number,
  sink: number | undefined
): Promise<Took> =>
  runtime.runPromise(
    Effect.gen(function*() {
      const [left, right] = yield* MemoryTransport.pair()
      const received = yield* Deferred.make<void>()
      yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        const server = yield* TlsServer.make(right, material.serverOptions.p256)
        let count = 0
        while (true) {
          const data = yield* server.read
          if (Option.isNone(data)) break
          count += data.value.length
          if (count >= total) yield* Deferred.succeed(received, undefined)
        }
      })))
      const client = yield* TlsClient.connect(left, material.clientOptions)
      const info = yield* client.handshake
      checkSuite(info.protocolVersion, info.ciphersuiteName)
      const cpu = cpuMicros()
      const start = now()
      let sent = 0
      if (sink !== undefined) {
        // (whole stream chunks of `sink` writes; the rest below)
        const whole = Math.floor(total / (chunk.length * sink))
        const writes = Chunk.unsafeFromArray(Array.from({ length: sink }, () => chunk))
        yield* Stream.run(Stream.fromChunks(...Array.from({ length: whole }, () => writes)), client.sink)
        sent = whole * sink * chunk.length
      }
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent)
        yield* client.write(n === chunk.length ? chunk : chunk.subarray(0, n))
        sent += n
      }
      yield* Deferred.await(received)
      return { ms: now() - start, cpuMs: (cpuMicros() - cpu) / 1000 }
    }).pipe(Effect.scoped)
  )

export const memoryBulk = async (
  runtime: ManagedRuntime.ManagedRuntime<TlsBackend, never>,
  material: Material,
  args: Requests["memoryBulk"]
): Promise<Metrics> => {
  const chunk = payload(args.chunk)
  const { cpuMs, ms } = args.impl === "raw"
    ? await raw(material, chunk, args.total)
    : await effect(runtime, material, chunk, args.total, args.sink)
  const mb = args.total / 1e6
  return { mbps: mb / (ms / 1000), cpuMsPerMB: cpuMs / mb }
}
