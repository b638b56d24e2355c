/**
 * What the parent asks of a child process (one end of every measurement) and what it
 * answers: plain JSON over the IPC channel of `child_process.fork`.
 */
import type { KeyName, Pems } from "./material.js"

export type Impl = "raw" | "effect"
/**
 * raw: `native` (node:tls on its own socket) or `duplex` (over a plain JS Duplex); effect:
 * `default` (default options: the engine hands node:tls the TCP socket), `native`
 * (`requireCloseNotify: false`, the native path on any runtime) or `bridge` (a transport the
 * engine cannot take the socket of: node:tls over the engine's JS Duplex, the path of the
 * memory pair and every non-TCP transport).
 */
export type Path = "native" | "duplex" | "default" | "bridge"
/** echo: send back; sink: count to `total` then ack one byte; hold: read and drop; noRead: never read. */
export type ServerMode = "echo" | "sink" | "hold" | "noRead"
/** none: full handshakes only; raw-reuse / reuse: one ticket used again; single-use: effect-tls's default cache. */
export type Resume = "none" | "raw-reuse" | "single-use" | "reuse"

export interface End {
  readonly impl: Impl
  readonly path: Path
}

export interface Requests {
  readonly init: { readonly pems: Pems }
  readonly serve: End & { readonly key: KeyName; readonly mode: ServerMode; readonly total: number }
  /** Resets the server's counters (CPU, handshakes, RSS; the settled heap when `heap`). */
  readonly mark: { readonly heap: boolean }
  readonly stats: { readonly heap: boolean }
  readonly stop: Record<string, never>
  readonly handshakes: End & {
    readonly port: number
    readonly count: number
    readonly concurrency: number
    readonly resume: Resume
  }
  readonly ttfb: End & { readonly port: number; readonly count: number }
  readonly bulk: End & { readonly port: number; readonly chunk: number; readonly total: number }
  readonly hold: End & { readonly port: number; readonly count: number }
  readonly release: Record<string, never>
  readonly churn: { readonly port: number; readonly seconds: number; readonly loops: number }
  readonly push: { readonly port: number; readonly total: number; readonly stallMs: number }
  readonly memoryBulk: {
    readonly impl: Impl
    readonly chunk: number
    readonly total: number
    /** effect-tls: the writes go through the connection's sink, this many a stream chunk. */
    readonly sink?: number | undefined
  }
}

export type Op = keyof Requests
export type Metrics = Readonly<Record<string, number>>

export interface Request<K extends Op = Op> {
  readonly id: number
  readonly op: K
  readonly args: Requests[K]
}

export type Reply =
  | { readonly id: number; readonly ok: Metrics }
  | { readonly id: number; readonly error: string }
