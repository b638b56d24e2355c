/**
 * The effect-tls client of every TCP row: `TlsClient.connect` over `NodeTransport.connect`,
 * verifying with the test root's `TlsDatabase` and the default policy. `native` sets
 * `requireCloseNotify: false`; `bridge` wraps the transport (`bridged`), so that the engine
 * runs node:tls over its JS Duplex; `default` is the default options. Full-handshake rows run with
 * `SessionCache.disabled`; the resumed rows with a fresh default (single-use) memory cache,
 * or with `makeMemory({ reuseTickets: true })` ("ticket reuse allowed").
 */
import * as SessionCache from "@effect-tls/core/SessionCache"
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { ClientOptions } from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { bridged, checkSuite, type Material } from "./material.js"
import type { Metrics, Path, Requests, Resume } from "./protocol.js"
import { cpuMicros, idle, KiB, median, MiB, now, payload, settledHeap } from "./util.js"

type Runtime = ManagedRuntime.ManagedRuntime<TlsBackend, never>

const optionsFor = (material: Material, path: Path): ClientOptions =>
  path === "native" ? { ...material.clientOptions, requireCloseNotify: false } : material.clientOptions

const cacheFor = (resume: Resume): SessionCache.SessionCacheShape =>
  resume === "none"
    ? SessionCache.disabled
    : SessionCache.makeMemory({ reuseTickets: resume === "reuse" })

const connect = (material: Material, port: number, path: Path) =>
  Effect.flatMap(
    NodeTransport.connect({ host: "127.0.0.1", port }),
    (transport) => TlsClient.connect(path === "bridge" ? bridged(transport) : transport, optionsFor(material, path))
  )

const readCount = (connection: TlsConnection, total: number) =>
  Effect.gen(function*() {
    let count = 0
    while (count < total) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`end of input after ${count} of ${total} bytes`)
      count += chunk.value.length
    }
  })

export const handshakes = (runtime: Runtime, material: Material, args: Requests["handshakes"]): Promise<Metrics> => {
  let resumed = 0
  let next = 0
  const one = (i: number) =>
    Effect.scoped(Effect.gen(function*() {
      const connection = yield* connect(material, args.port, args.path)
      const info = yield* connection.handshake
      if (i === 0) checkSuite(info.protocolVersion, info.ciphersuiteName)
      if (info.resumed) resumed++
    }))
  const worker = Effect.suspend(() => next < args.count ? one(next++) : Effect.void).pipe(
    Effect.repeat({ until: () => next >= args.count })
  )
  return runtime.runPromise(
    Effect.gen(function*() {
      if (args.resume !== "none") yield* one(-1)
      resumed = 0
      const cpu = cpuMicros()
      const start = now()
      yield* Effect.all(Array.from({ length: Math.min(args.count, args.concurrency) }, () => worker), {
        concurrency: "unbounded",
        discard: true
      })
      const ms = now() - start
      if (args.resume === "none" && resumed > 0) throw new Error(`${resumed} "full" effect-tls handshakes resumed`)
      return {
        rate: args.count / (ms / 1000),
        cpuMs: (cpuMicros() - cpu) / 1000 / args.count,
        resumed,
        count: args.count
      }
    }).pipe(Effect.provideService(SessionCache.SessionCache, cacheFor(args.resume)))
  )
}

export const ttfb = (runtime: Runtime, material: Material, args: Requests["ttfb"]): Promise<Metrics> =>
  runtime.runPromise(
    Effect.gen(function*() {
      const samples: Array<number> = []
      for (let i = 0; i < args.count; i++) {
        yield* Effect.promise(idle)
        yield* Effect.scoped(Effect.gen(function*() {
          const start = now()
          const connection = yield* connect(material, args.port, args.path)
          yield* connection.write(new Uint8Array([120]))
          yield* connection.read
          samples.push(now() - start)
        }))
      }
      return { ms: median(samples) }
    }).pipe(Effect.provideService(SessionCache.SessionCache, SessionCache.disabled))
  )

export const bulk = (runtime: Runtime, material: Material, args: Requests["bulk"]): Promise<Metrics> =>
  runtime.runPromise(
    Effect.gen(function*() {
      const connection = yield* connect(material, args.port, args.path)
      const info = yield* connection.handshake
      checkSuite(info.protocolVersion, info.ciphersuiteName)
      const chunk = payload(args.chunk)
      const cpu = cpuMicros()
      const start = now()
      let sent = 0
      while (sent < args.total) {
        const n = Math.min(chunk.length, args.total - sent)
        yield* connection.write(n === chunk.length ? chunk : chunk.subarray(0, n))
        sent += n
      }
      yield* readCount(connection, 1)
      const ms = now() - start
      return { mbps: args.total / 1e6 / (ms / 1000), cpuMsPerMB: (cpuMicros() - cpu) / 1000 / (args.total / 1e6) }
    }).pipe(Effect.scoped)
  )

let held: Scope.CloseableScope | undefined

export const hold = async (runtime: Runtime, material: Material, args: Requests["hold"]): Promise<Metrics> => {
  const before = await settledHeap()
  const scope = Effect.runSync(Scope.make())
  held = scope
  await runtime.runPromise(
    Effect.forEach(
      Array.from({ length: args.count }),
      () => Scope.extend(connect(material, args.port, "default"), scope),
      { concurrency: 32, discard: true }
    ).pipe(Effect.provideService(SessionCache.SessionCache, SessionCache.disabled))
  )
  const after = await settledHeap()
  return { heapKiB: (after - before) / KiB / args.count }
}

export const release = async (runtime: Runtime): Promise<void> => {
  const scope = held
  held = undefined
  if (scope !== undefined) await runtime.runPromise(Scope.close(scope, Exit.void))
}

/**
 * Pushes up to `total` bytes at a server that never reads: the writer must suspend (no
 * write completes for `stallMs`) with this process's RSS flat.
 */
export const push = (runtime: Runtime, material: Material, args: Requests["push"]): Promise<Metrics> =>
  runtime.runPromise(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const connection = yield* Scope.extend(connect(material, args.port, "default"), scope)
      const chunk = payload(64 * KiB)
      const rss = process.memoryUsage().rss
      let accepted = 0
      const writer = yield* Effect.fork(
        Effect.whileLoop({
          while: () => accepted < args.total,
          body: () => connection.write(chunk),
          step: () => (accepted += chunk.length)
        })
      )
      let last = -1
      let since = now()
      let peakRss = rss
      while (accepted < args.total && now() - since < args.stallMs) {
        yield* Effect.sleep(50)
        peakRss = Math.max(peakRss, process.memoryUsage().rss)
        if (accepted !== last) {
          last = accepted
          since = now()
        }
      }
      yield* Fiber.interrupt(writer)
      // closing must stay bounded with a write stuck on the peer: time it (-1: over 10 × stallMs)
      const closing = now()
      const closed = yield* Effect.disconnect(Scope.close(scope, Exit.void)).pipe(
        Effect.timeout(10 * args.stallMs),
        Effect.option
      )
      return {
        suspended: accepted < args.total ? 1 : 0,
        acceptedMiB: accepted / MiB,
        rssGrowthMiB: (peakRss - rss) / MiB,
        closeMs: Option.isSome(closed) ? now() - closing : -1
      }
    }).pipe(Effect.provideService(SessionCache.SessionCache, SessionCache.disabled))
  )
