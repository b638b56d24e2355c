/**
 * The one module that touches node's private fields. Every other module of the engine uses
 * public node APIs only, and asks here for what node does not make public.
 *
 * Each private field is a `Feature`: detected once, on first use, by probing a real object
 * (a TLSSocket over an inert Duplex), never assumed. When a feature is missing (another Node
 * release, Bun, Deno) the engine takes the public fallback named beside it, or refuses with a
 * typed error; it never reads `undefined` and carries on. `report()` says which way each one
 * went; `test/NodeInternals.test.ts` fails loudly when this Node moved one of them.
 *
 * Runtimes other than Node add their detection here (and only here).
 *
 * @internal
 */
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import { getSystemErrorName } from "node:util"
import * as runtime from "./runtime.js"

/** @internal */
export type FeatureName =
  | "readableState.ended"
  | "handle.verifyError"
  | "socket.servername"
  | "tlsWrap.native"
  | "handle.writeQueueSize"
  | "context.ticketKeyCallback"

/** @internal */
export interface Detection {
  readonly name: FeatureName
  /** The private field, found and behaving as expected. */
  readonly available: boolean
  /** What the engine does without it. */
  readonly fallback: string
  /** What the probe saw (for reports). */
  readonly detail: string
}

interface Probe {
  readonly socket: tls.TLSSocket
}

const withProbe = <A>(f: (probe: Probe) => A): A => {
  const inert = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback()
    }
  })
  inert.on("error", () => {})
  const socket = new tls.TLSSocket(inert, { isServer: true })
  socket.on("error", () => {})
  try {
    return f({ socket })
  } finally {
    socket.destroy()
    inert.destroy()
  }
}

const detectAll = (): Record<FeatureName, Detection> =>
  withProbe(({ socket }) => {
    const anySocket = socket as any
    const state = anySocket._readableState
    const readableEnded = typeof state === "object" && state !== null && state.ended === false
    const handle = anySocket._handle
    const verifyError = typeof handle === "object" && handle !== null && typeof handle.verifyError === "function"
    // node sets `servername` (null until the handshake names one) in TLSSocket's constructor
    const servername = "servername" in socket && anySocket.servername == null
    const native = detectNative(socket, handle)
    // (on the probe's TLSWrap: libuv's stream handles, TCPWrap's included, share StreamBase's field)
    const writeQueue = typeof handle === "object" && handle !== null && typeof handle.writeQueueSize === "number"
    // (node only: the callback's contract below was read in node 20's crypto_context.cc and tried)
    const nativeContext = (tls.createSecureContext() as any).context
    const ticketKeyCallback = runtime.runtimeName === "node" && typeof nativeContext === "object" &&
      nativeContext !== null && typeof nativeContext.enableTicketKeyCallback === "function"
    return {
      "readableState.ended": {
        name: "readableState.ended",
        available: readableEnded,
        fallback: "refuse requireCloseNotify: true with TlsGenericError Unavailable (truncation cannot be told)",
        detail: `typeof _readableState: ${typeof state}, ended: ${String(state?.ended)}`
      },
      "handle.verifyError": {
        name: "handle.verifyError",
        available: verifyError,
        fallback: "no engine verdict (engineFlags empty; core's verifier still decides, fail closed)",
        detail: `typeof _handle: ${typeof handle}, typeof verifyError: ${typeof handle?.verifyError}`
      },
      "socket.servername": {
        name: "socket.servername",
        available: servername,
        fallback: "record the client's SNI through the public SNICallback option",
        detail: `"servername" in TLSSocket: ${"servername" in socket}, value: ${String(anySocket.servername)}`
      },
      "tlsWrap.native": {
        name: "tlsWrap.native",
        available: native.available,
        fallback: "the bridge for every connection that requires close_notify (the native socket path only " +
          "without requireCloseNotify)",
        detail: native.detail
      },
      "handle.writeQueueSize": {
        name: "handle.writeQueueSize",
        available: writeQueue,
        fallback: "a socket's shutdown waits one turn after its last write callback, not for libuv's write queue " +
          "(a FIN may overtake ciphertext still in flight: the peer reads a truncation)",
        detail: `typeof _handle.writeQueueSize: ${typeof handle?.writeQueueSize}`
      },
      "context.ticketKeyCallback": {
        name: "context.ticketKeyCallback",
        available: ticketKeyCallback,
        fallback: "a server with TicketKeys reads each ClientHello first and gives node:tls the one key it names",
        detail: `typeof SecureContext.context.enableTicketKeyCallback: ${typeof nativeContext?.enableTicketKeyCallback}`
      }
    }
  })

/**
 * The native path's truncation evidence needs, on node's TLSWrap handle (`_handle`): the
 * `onread` accessor (node's StreamBase keeps the JS read callback there and calls it with no
 * buffer at the end of input), `readStart`/`readStop` as methods JS calls, and `_parent`, the
 * underlying stream's handle (a TCPWrap on the native path), with `readStart`/`readStop`.
 * Node only: Bun's and Deno's TLSSocket have other handles.
 */
const detectNative = (socket: tls.TLSSocket, handle: any): { readonly available: boolean; readonly detail: string } => {
  if (runtime.runtimeName !== "node") return { available: false, detail: `runtime ${runtime.runtimeName}` }
  const parent = handle?._parent
  const shape = typeof handle === "object" && handle !== null && typeof handle.onread === "function" &&
    typeof handle.readStart === "function" && typeof handle.readStop === "function" &&
    typeof parent === "object" && parent !== null && typeof parent.readStart === "function" &&
    typeof parent.readStop === "function" && typeof (socket as any)._final === "function"
  let assignable = false
  if (shape) {
    // the accessor must keep what is assigned (node calls the stored function)
    const original = handle.onread
    const probe = () => {}
    handle.onread = probe
    assignable = handle.onread === probe
    handle.onread = original
  }
  let errorNames = false
  try {
    errorNames = getSystemErrorName(UV_EALREADY_GUESS) === "EALREADY"
  } catch {
    errorNames = false
  }
  return {
    available: shape && assignable && errorNames,
    detail: `typeof _handle.onread: ${typeof handle?.onread}, typeof _handle._parent.readStart: ${typeof parent
      ?.readStart}, typeof _final: ${typeof (
        socket as any
      )._final}, onread assignable: ${assignable}, libuv error names: ${errorNames}`
  }
}

/** libuv's UV_EALREADY on Linux and macOS (-EALREADY); checked by name at detection. */
const UV_EALREADY_GUESS = -114

let detected: Record<FeatureName, Detection> | undefined = undefined

const features = (): Record<FeatureName, Detection> => {
  if (detected === undefined) detected = detectAll()
  return detected
}

/**
 * What was detected, feature by feature.
 *
 * @internal
 */
export const report = (): ReadonlyArray<Detection> => Object.values(features())

/** @internal */
export const has = (name: FeatureName): boolean => features()[name].available

/**
 * Whether a readable stream has received its end of input (`push(null)`), even if its
 * buffered data was not read yet (`readableEnded` is true only once `'end'` was emitted).
 * This is how the bridge tells a close_notify (node:tls ends its readable side first) from a
 * bare FIN. Undefined when the feature is missing: the engine then refuses
 * `requireCloseNotify` (see `canTellTruncation`).
 *
 * @internal
 */
export const endOfInputReceived = (stream: Duplex): boolean | undefined =>
  has("readableState.ended") ? (stream as any)._readableState?.ended === true : undefined

/**
 * Whether truncation can be told from close_notify on the bridge.
 *
 * @internal
 */
export const canTellTruncation = (): boolean => has("readableState.ended")

/**
 * How the peer's direction ended on a native-socket TLSSocket: `"open"` (not yet),
 * `"closeNotify"` or `"truncated"` (the transport ended without it).
 *
 * @internal
 */
export type NativeEnd = "open" | "closeNotify" | "truncated"

/**
 * Whether truncation can be told from close_notify on a native socket (`watchNativeEnd`).
 *
 * @internal
 */
export const canTellNativeTruncation = (): boolean => has("tlsWrap.native")

/**
 * Watches a TLSSocket over a native TCP handle, from its creation, for how its input ends;
 * undefined when the feature is missing (the engine then keeps the bridge when close_notify is
 * required).
 *
 * node:tls on a native socket gives the same events for close_notify then FIN and for a bare
 * FIN (verified on Node 20.20, TLS 1.2 and 1.3, client and server): its TLSWrap calls the JS
 * read callback (`_handle.onread`) with no buffer exactly once, either from its decryption loop
 * when OpenSSL saw close_notify (`SSL_RECEIVED_SHUTDOWN`), or when the TCP stream itself reached
 * its end (and then ignores what follows). At that call, synchronously, the two are told apart
 * by the TCP handle (`_handle._parent`):
 * - after libuv delivered the TCP end it has cleared its reading flag, so `readStart()` returns
 *   0 (it starts reading again: stopped at once), where a stream still reading returns
 *   UV_EALREADY: EALREADY is close_notify, 0 is a bare end of input (truncation);
 * - but node:tls also stops the TCP handle when its plaintext buffer is full (`readStop()`
 *   from JS in the same decryption loop), and then `readStart()` returns 0 after a close_notify
 *   too. libuv never reads, hence never reports an end, on a stopped stream: an end seen while
 *   JS had stopped reading (tracked through `_handle.readStop`/`readStart`, which JS calls) is
 *   close_notify.
 * A connection reset or a read error also calls with no buffer, but the socket then fails
 * with that error and never emits `end` (the verdict is read at `end`). Any other answer of
 * `readStart()` counts as truncation (fail closed).
 *
 * @internal
 */
export const watchNativeEnd = (socket: tls.TLSSocket): NativeEndWatch | undefined => {
  if (!has("tlsWrap.native")) return undefined
  const handle = (socket as any)._handle
  const parent = handle?._parent
  if (typeof handle?.onread !== "function" || typeof parent?.readStart !== "function") return undefined
  const watch = new Watch(parent, handle.onread, handle.readStart, handle.readStop)
  watches.set(handle, watch)
  handle.readStop = watchedReadStop
  handle.readStart = watchedReadStart
  handle.onread = watchedOnread
  deferShutdownBehindWrites(socket, watch)
  return watch
}

/**
 * How a native socket's input ended, as `watchNativeEnd` saw it: "open" until then.
 *
 * @internal
 */
export interface NativeEndWatch {
  readonly end: NativeEnd
}

/**
 * One watched handle: its TCP handle, node's own methods and what was seen. The handle's
 * patched methods are this module's functions, shared by every socket (node calls them with
 * the handle as `this`, `watches` leads to its watch): a socket holds no closure for them.
 */
class Watch implements NativeEndWatch {
  /** JS stopped reading (`readStop`, until the next `readStart`). */
  stopped = false
  end: NativeEnd = "open"
  /** The socket's own `_final`, deferred behind writes in flight (`deferShutdownBehindWrites`). */
  final: ((this: unknown, callback: (error?: Error | null) => void) => void) | undefined = undefined
  constructor(
    readonly parent: { readStart(): number; readStop(): number; writeQueueSize?: unknown },
    readonly onread: (this: unknown, buffer: unknown) => unknown,
    readonly readStart: (this: unknown) => number,
    readonly readStop: (this: unknown) => number
  ) {}
}

/** A watched TLSWrap handle, and its socket, to its watch. */
const watches = new WeakMap<object, Watch>()

function watchedReadStop(this: object): number {
  const watch = watches.get(this)!
  watch.stopped = true
  return watch.readStop.call(this)
}

function watchedReadStart(this: object): number {
  const watch = watches.get(this)!
  watch.stopped = false
  return watch.readStart.call(this)
}

function watchedOnread(this: object, buffer: unknown): unknown {
  const watch = watches.get(this)!
  if (buffer === undefined && watch.end === "open") {
    watch.end = watch.stopped
      ? "closeNotify"
      : probeTcpEnd(watch.parent)
  }
  return watch.onread.call(this, buffer)
}

/**
 * node:tls on a native socket can send its FIN before its close_notify (seen on Node 20.20,
 * TLS 1.3 server: a write made in the `secure` handler, then `end()` in its callback): TLSWrap
 * calls a write's callback back (an immediate) while the write's ciphertext is still in flight
 * (`write_size_`), `end()` then shuts down at once, the close_notify waits behind the write
 * in flight, and the TCP shutdown overtakes it (the close_notify then fails with EPIPE and the
 * peer reads a truncation). The shutdown (`_final`) is therefore deferred past TLSWrap's
 * completion of that write (an immediate queued before it) and until libuv holds no write of
 * ours (`writeQueueSize`), polled each millisecond (bounded by the engine's closeTimeout).
 */
const deferShutdownBehindWrites = (socket: tls.TLSSocket, watch: Watch): void => {
  const final: ((this: unknown, callback: (error?: Error | null) => void) => void) | undefined = (socket as any)._final
  if (typeof final !== "function") return
  watch.final = final
  watches.set(socket, watch)
  ;(socket as any)._final = deferredFinal
}

/** The socket's `_final` (`this`: the socket), once libuv holds no write of ours. */
function deferredFinal(this: tls.TLSSocket, callback: (error?: Error | null) => void): void {
  const watch = watches.get(this)!
  const parent = watch.parent
  const queued = () =>
    has("handle.writeQueueSize") && typeof parent.writeQueueSize === "number" ? parent.writeQueueSize : 0
  afterWritesInFlight(this, queued, () => this.destroyed ? callback() : watch.final!.call(this, callback))
}

/**
 * Calls `then` a turn later (TLSWrap completes a write in flight from an immediate queued
 * before ours) once libuv holds no write of ours (`queued()`, polled each millisecond), or as
 * soon as `socket` is destroyed. Returns what cancels it.
 *
 * @internal
 */
export const afterWritesInFlight = (socket: Duplex, queued: () => number, then: () => void): () => void => {
  let timer: ReturnType<typeof setTimeout> | undefined = undefined
  const attempt = () => {
    if (!socket.destroyed && queued() > 0) {
      timer = setTimeout(attempt, 1)
      return
    }
    then()
  }
  const immediate = setImmediate(attempt)
  return () => {
    clearImmediate(immediate)
    clearTimeout(timer)
  }
}

const probeTcpEnd = (parent: { readStart(): number; readStop(): number }): NativeEnd => {
  const code = parent.readStart()
  if (code === 0) {
    parent.readStop()
    return "truncated"
  }
  return isEalready(code) ? "closeNotify" : "truncated"
}

const isEalready = (code: number): boolean => {
  if (code === UV_EALREADY_GUESS) return true
  try {
    return code < 0 && getSystemErrorName(code) === "EALREADY"
  } catch {
    return false
  }
}

/**
 * The bytes libuv still holds for a socket's handle (`_handle.writeQueueSize`), 0 when unknown.
 *
 * @internal
 */
export const writeQueueSize = (socket: Duplex): number => {
  if (!has("handle.writeQueueSize")) return 0
  const queued = (socket as { _handle?: { writeQueueSize?: unknown } })._handle?.writeQueueSize
  return typeof queued === "number" ? queued : 0
}

/**
 * OpenSSL's verdict on the peer's chain, as tls.Server and tls.connect read it (a bare
 * server TLSSocket sets no `authorized`): the error code, or none when it verified.
 * Without the feature: the public `authorizationError` when set (Bun sets it on both sides),
 * none otherwise (core's verifier still runs on every chain).
 *
 * @internal
 */
export const verifyError = (socket: tls.TLSSocket): Option.Option<string> => {
  // Node: null or an Error with OpenSSL's code; Deno: "" or the code as a string; Bun: no
  // verifyError, but `authorizationError` set on every TLSSocket (see runtime.ts)
  const handle = (socket as any)._handle
  return Option.fromNullable(runtime.verifyErrorCode(
    has("handle.verifyError") ? () => handle?.verifyError?.() : undefined,
    socket.authorizationError
  ))
}

/**
 * Whether the server side needs the public SNICallback to learn the client's SNI.
 *
 * @internal
 */
export const serverNameNeedsCallback = (): boolean => !has("socket.servername")

/**
 * The SNI host name a server TLSSocket received (read at `secure`), or the one recorded by
 * the SNICallback fallback.
 *
 * @internal
 */
export const serverName = (socket: tls.TLSSocket, recorded: string | undefined): Option.Option<string> => {
  const name = has("socket.servername") ? (socket as any).servername : recorded
  return typeof name === "string" ? Option.some(name) : Option.none()
}

/**
 * For tests: pretend `name` is missing (or present) until the returned function restores it.
 *
 * @internal
 */
export const overrideFeature = (name: FeatureName, available: boolean): () => void => {
  const all = features()
  const saved = all[name]
  all[name] = { ...saved, available }
  return () => {
    all[name] = saved
  }
}

/** What `chooseTicketKeys` reads on each ticket: 48-byte keys (16 of name, 16 HMAC, 16 AES). @internal */
export interface TicketKeyring {
  readonly current: Uint8Array
  readonly previous: Uint8Array | undefined
}

/**
 * Whether `chooseTicketKeys` can give a secure context its keys per ticket.
 *
 * @internal
 */
export const canChooseTicketKeys = (): boolean => has("context.ticketKeyCallback")

/** (node reads both keys whatever the answer, and a name and an IV when issuing: without them it aborts) */
const noKey: ReadonlyArray<number | Buffer> = [
  0,
  Buffer.alloc(16),
  Buffer.alloc(16),
  Buffer.alloc(16),
  Buffer.alloc(16)
]

const part = (key: Uint8Array, from: number): Buffer => Buffer.from(key.buffer, key.byteOffset + from, 16)

/**
 * Lets OpenSSL take each ticket's key from `keys()` (node's private per-context ticket key callback:
 * `SecureContext.context.enableTicketKeyCallback` and its `onticketkeycallback(name, iv, encrypt)`,
 * which answers `[code, hmacKey, aesKey]`, plus `[name, iv]` when issuing; code 1: this key, 2:
 * accepted, issue a new ticket, 0: unknown, a full handshake). New tickets go out under
 * `current`; a ticket under `previous` resumes and is replaced by one under `current`; any other
 * name is a full handshake. The callback never throws (node would abort): any failure is "unknown".
 * The caller checked `canChooseTicketKeys`.
 *
 * @internal
 */
export const chooseTicketKeys = (context: tls.SecureContext, keys: () => TicketKeyring): void => {
  const native = (context as any).context
  native.onticketkeycallback = (name: Buffer, _iv: Buffer, encrypt: boolean): ReadonlyArray<number | Buffer> => {
    try {
      const { current, previous } = keys()
      if (current.length !== 48) return noKey
      if (encrypt) return [1, part(current, 16), part(current, 32), part(current, 0), randomBytes(16)]
      if (name.equals(part(current, 0))) return [1, part(current, 16), part(current, 32)]
      if (previous !== undefined && previous.length === 48 && name.equals(part(previous, 0))) {
        return [2, part(previous, 16), part(previous, 32)]
      }
      return noKey
    } catch {
      return noKey
    }
  }
  native.enableTicketKeyCallback()
}
