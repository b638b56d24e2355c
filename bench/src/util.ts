/** Small helpers of the child processes: time, CPU, GC, a settled heap, events as promises. */
import { constants, PerformanceObserver } from "node:perf_hooks"
import * as v8 from "node:v8"

export const KiB = 1024
export const MiB = 1024 * 1024

export const now = (): number => performance.now()

/** CPU time (user + system) of this process, in µs. */
export const cpuMicros = (): number => {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/** The garbage collections of this process so far: major (mark-compact) ones, and all GCs' pause time. */
export interface GcTotals {
  readonly major: number
  readonly ms: number
}

const gcTotals = { major: 0, ms: 0 }
let gcObserved = false

/**
 * This process's collections since it first asked (a `PerformanceObserver` on `gc` entries,
 * started on the first call: one entry per collection, a few hundred per row). A figure's
 * major collections tell which of V8's modes its processes ran in: the same code measured
 * 1.5 or 3 ms of CPU per MB from one fresh process to the next, the slow ones with 15-35
 * mark-compacts of a heap that stays ~12 MB (the old generation's limit reached again and
 * again by what scavenges promote), raw node:tls as well as effect-tls.
 */
export const gcSoFar = (): GcTotals => {
  if (!gcObserved) {
    gcObserved = true
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as unknown as { readonly detail?: { readonly kind?: number } }).detail?.kind
        if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcTotals.major++
        gcTotals.ms += entry.duration
      }
    }).observe({ entryTypes: ["gc"] })
  }
  return { ...gcTotals }
}

/** The collections since `since` (from `gcSoFar`), as metrics. */
export const gcSince = (since: GcTotals): { readonly gcMajor: number; readonly gcMs: number } => {
  const totals = gcSoFar()
  return { gcMajor: totals.major - since.major, gcMs: totals.ms - since.ms }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The pause before each time-to-first-byte sample, both implementations alike: the previous
 * connection's teardown (its socket's close events, the server's side of it) is over before
 * the next sample starts, so each one measures one connection on an idle client and server.
 */
export const idle = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, 5))

/** Heap in use after full collections (the children run with `--expose-gc`). */
export const settledHeap = async (): Promise<number> => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with --expose-gc")
  for (let i = 0; i < 4; i++) {
    gc()
    await tick()
  }
  return v8.getHeapStatistics().used_heap_size
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Resolves on the first `event` (rejects on "error"). */
export const once = (emitter: NodeJS.EventEmitter, event: string): Promise<Array<unknown>> =>
  new Promise((resolve, reject) => {
    const onEvent = (...args: Array<unknown>) => {
      emitter.off("error", onError)
      resolve(args)
    }
    const onError = (error: unknown) => {
      emitter.off(event, onEvent)
      reject(error)
    }
    emitter.once(event, onEvent)
    emitter.once("error", onError)
  })

/** A payload chunk (reused by every write: TLS encrypts it before the write completes). */
export const payload = (size: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff
  return bytes
}

/** Runs `loops` workers that take work items until `count` are taken. */
export const loops = async (count: number, concurrency: number, work: (i: number) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < count) await work(next++)
  }
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker))
}
