/**
 * One end of the benchmarks, in its own process (started by `children.ts` with
 * `--expose-gc`): it serves or connects as the parent asks, over the IPC channel, and
 * measures itself (CPU with `process.cpuUsage`, its collections, a settled heap, RSS).
 */
import * as NodeTlsBackend from "@effect-tls/node/NodeTlsBackend"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as effectClient from "./effectClient.js"
import { startEffectServer } from "./effectServer.js"
import { loadMaterial, type Material } from "./material.js"
import { memoryBulk } from "./memoryBulk.js"
import type { Metrics, Reply, Request, Requests } from "./protocol.js"
import * as rawClient from "./rawClient.js"
import { type Counters, type RunningServer, startRawServer } from "./rawServer.js"
import { cpuMicros, gcSince, gcSoFar, MiB, settledHeap } from "./util.js"

const runtime = ManagedRuntime.make(NodeTlsBackend.layer)
let material: Material | undefined
let server: RunningServer | undefined
const counters: Counters = { handshakes: 0 }
let mark = { cpu: 0, heap: 0, rss: 0, gc: gcSoFar() }

const loaded = (): Material => {
  if (material === undefined) throw new Error("not initialised")
  return material
}

/** A client's measurement, with this process's collections while it ran (`gcMajor`, `gcMs`). */
const measured = async (run: () => Promise<Metrics>): Promise<Metrics> => {
  const since = gcSoFar()
  const metrics = await run()
  return { ...metrics, ...gcSince(since) }
}

const handlers: { readonly [K in keyof Requests]: (args: Requests[K]) => Promise<Metrics> } = {
  init: async ({ pems }) => {
    material = await runtime.runPromise(loadMaterial(pems))
    return {}
  },
  serve: async (args) => {
    if (server !== undefined) throw new Error("a server is running")
    counters.handshakes = 0
    const spec = { material: loaded(), path: args.path, key: args.key, mode: args.mode, total: args.total, counters }
    server = args.impl === "raw" ? await startRawServer(spec) : await startEffectServer(runtime, spec)
    return { port: server.port }
  },
  mark: async (args) => {
    counters.handshakes = 0
    mark = {
      heap: args.heap ? await settledHeap() : 0,
      rss: process.memoryUsage().rss,
      cpu: cpuMicros(),
      gc: gcSoFar()
    }
    return {}
  },
  stats: async (args) => {
    const cpu = cpuMicros() - mark.cpu
    const handshakes = counters.handshakes
    // (before `settledHeap`'s own collections)
    const gc = gcSince(mark.gc)
    return {
      cpuMs: handshakes > 0 ? cpu / 1000 / handshakes : 0,
      handshakes,
      heapKiB: args.heap && handshakes > 0 ? (await settledHeap() - mark.heap) / 1024 / handshakes : 0,
      rssGrowthMiB: (process.memoryUsage().rss - mark.rss) / MiB,
      ...gc
    }
  },
  stop: async () => {
    const running = server
    server = undefined
    if (running === undefined) return {}
    // a server must close in bounded time even with a write stuck on its peer; do not wait for ever
    let timer: ReturnType<typeof setTimeout> | undefined
    const hung = await Promise.race([
      running.close().then(() => 0),
      new Promise<number>((resolve) => (timer = setTimeout(() => resolve(1), 6_000)))
    ])
    clearTimeout(timer)
    return { stopHung: hung }
  },
  handshakes: (args) =>
    measured(() =>
      args.impl === "raw" ? rawClient.handshakes(loaded(), args) : effectClient.handshakes(runtime, loaded(), args)
    ),
  ttfb: (args) => args.impl === "raw" ? rawClient.ttfb(loaded(), args) : effectClient.ttfb(runtime, loaded(), args),
  bulk: (args) =>
    measured(() => args.impl === "raw" ? rawClient.bulk(loaded(), args) : effectClient.bulk(runtime, loaded(), args)),
  hold: (args) => args.impl === "raw" ? rawClient.hold(loaded(), args) : effectClient.hold(runtime, loaded(), args),
  release: async () => {
    await rawClient.release()
    await effectClient.release(runtime)
    return {}
  },
  churn: (args) => rawClient.churn(loaded(), args),
  push: (args) => effectClient.push(runtime, loaded(), args),
  memoryBulk: (args) => measured(() => memoryBulk(runtime, loaded(), args))
}

const reply = (message: Reply) => process.send?.(message)

process.on("message", (message: Request) => {
  const handler = handlers[message.op] as (args: unknown) => Promise<Metrics>
  handler(message.args).then(
    (ok) => reply({ id: message.id, ok }),
    (error: unknown) =>
      reply({ id: message.id, error: error instanceof Error ? error.stack ?? error.message : String(error) })
  )
})
process.on("disconnect", () => process.exit(0))
// (the parent stops its children with SIGTERM: exit normally, so that `--cpu-prof` and the like write)
process.on("SIGTERM", () => process.exit(0))
