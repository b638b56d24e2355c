/**
 * Node's events into the connection's state: the bridge (`bridge`, Bun's `guard` before it), the
 * TLS socket made on first use (`start`), the listeners on it that live as long as the
 * connection (each records an event in the connection's `ConnectionState`,
 * `connectionState.ts`, and wakes its waiters: `recordError`, the handshake's report read at
 * `secure`), and what the bridge asks of
 * node:tls through the engine (`hookBridge`: whether node:tls ended its input, ended its output,
 * has its plaintext buffer full, and Deno's two quirks: input held until node:tls started, writes
 * kept when node:tls destroys the bridge).
 *
 * Every listener and hook is one function of this module, shared by all connections: node calls
 * a listener with its emitter as `this` (and the bridge calls its hooks as its own methods), and
 * `owners` leads from the socket or the bridge to its connection. A connection therefore holds
 * no closure per event (each would be one more function object per connection).
 *
 * @internal
 */
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import type * as tls from "node:tls"
import { TransportDuplex } from "./bridge.js"
import * as closeNotifyGuard from "./closeNotifyGuard.js"
import type { NodeTlsConnection } from "./engine.js"
import * as errors from "./errors.js"
import { describe } from "./handshakeReport.js"
import * as internals from "./nodeInternals.js"
import { refineFailure } from "./refusals.js"
import * as runtime from "./runtime.js"
import { inputTruncated } from "./truncation.js"

/** A connection's TLS socket and bridge, each to its connection (entries go with them). */
const owners = new WeakMap<object, NodeTlsConnection>()

const owner = (emitter: object): NodeTlsConnection => owners.get(emitter)!

/**
 * Makes the connection's TLS socket (over the transport's own socket on the native path, over
 * the bridge otherwise) and sets up every listener.
 *
 * @internal
 */
export const start = (connection: NodeTlsConnection): tls.TLSSocket => {
  const bridge = connection.bridge
  if (bridge !== undefined) {
    owners.set(bridge, connection)
    // (Deno: no input until node:tls started, runtime.inputBeforeStartThrows)
    if (runtime.inputBeforeStartThrows) bridge.consumerFull = inputHeld
  }
  const socket = connection.createSocket(connection.native ?? bridge!)
  connection.socket = socket
  owners.set(socket, connection)
  // (the native path: how the peer's input ends, told by node internals from the first read on)
  if (connection.native !== undefined) {
    connection.nativeEnd = internals.watchNativeEnd(socket)
    connection.requests?.watchNative(socket, connection.config.minVersion !== "TLSv1.3")
  }
  connection.state.start()
  // (a TLS 1.3-only client that need not decrypt has nothing in clear to read)
  if (
    connection.side === "client" && connection.native === undefined &&
    (connection.decryptCertificateRequest || connection.config.minVersion !== "TLSv1.3")
  ) connection.requests?.sniff(socket, bridge!, connection.decryptCertificateRequest)
  if (bridge !== undefined && runtime.certificateRequestFromFlight) connection.requests?.watchFlight(bridge)
  if (connection.sessionsOf !== undefined) socket.on("session", onSession)
  // (the ticket wait's bound: clients keeping sessions only)
  connection.ticketWait?.started()
  if (connection.guard !== undefined) socket.on("keylog", connection.guard.onKeylog)
  if (bridge !== undefined) hookBridge(bridge)
  socket.on(connection.side === "client" ? "secureConnect" : "secure", onSecure)
  socket.on("error", onError)
  const changed = connection.changed.notify
  socket.on("readable", connection.native !== undefined ? onNativeReadable : changed)
  socket.on("drain", changed)
  socket.on("finish", changed)
  socket.on("end", onEnd)
  socket.on("close", onClose)
  return socket
}

/**
 * The connection's bridge (not on the native path): node:tls's transport, whose changes wake the
 * connection's waiters.
 *
 * @internal
 */
export const bridge = (connection: NodeTlsConnection, run: Runtime.Runtime<never>): TransportDuplex => {
  const bridge = new TransportDuplex(connection.guard?.transport ?? connection.config.transport, run)
  const changed = connection.changed.notify
  bridge.on("error", changed)
  bridge.onWriteProgress = changed
  // Bun's node:tls ignores the Duplex's backpressure: the engine waits for its drain itself
  bridge.on("drain", changed)
  return bridge
}

/**
 * Bun: the guard that keeps the peer's close_notify from node:tls until our side closed
 * (`closeNotifyGuard.ts`), between the transport and the bridge.
 *
 * @internal
 */
export const guard = (connection: NodeTlsConnection): closeNotifyGuard.CloseNotifyGuard =>
  closeNotifyGuard.make(connection.config.transport, connection.side, {
    writeOpen: () => connection.socket !== undefined && !connection.socket.writableEnded,
    handedOn: () => (connection.bridge?.readableLength ?? 0) === 0,
    onPeerClosed: connection.changed.notify
  })

// ---- what node:tls reports

/**
 * A node error: the connection's failure, once.
 *
 * @internal
 */
export const recordError = (connection: NodeTlsConnection, error: unknown): void => {
  const state = connection.state
  if (state.failure === undefined) {
    const failure = errors.fromNodeError(error, {
      side: connection.side,
      handshakeDone: state.secure,
      transportError: connection.bridge?.transportError,
      // a client sends its certificate only when asked (unknown on the native path: assume it did)
      sentCertificate: Option.isSome(connection.config.certificate) &&
        (connection.side === "server" || connection.native !== undefined || connection.certificateRequested())
    })
    state.broke(refineFailure(failure, connection.evidence(), error))
  }
  connection.requests?.stop()
  connection.changed.notify()
}

/** The handshake completed: its report, read (a turn later on a node client, `onSecure`). */
const secured = (connection: NodeTlsConnection, socket: tls.TLSSocket): void => {
  // (read a turn later: not once the connection was torn down meanwhile, nor from a destroyed
  // socket, whose 'close' or 'error' tells the connection instead)
  if (connection.tornDown || socket.destroyed) return
  try {
    // read everything now: node 20 may crash when a destroyed TLSSocket is asked later
    connection.state.secured(
      describe(
        socket,
        connection.side,
        connection.config,
        connection.sessionsOf,
        connection.requests,
        connection.recordedServerName
      )
    )
  } catch (error) {
    // (only where reading is deferred, Bun: a socket destroyed meanwhile)
    recordError(connection, error)
  }
  connection.requests?.stop()
  connection.changed.notify()
}

// ---- the TLS socket's listeners (`this`: the socket)

function onSession(this: tls.TLSSocket, session: Buffer): void {
  const connection = owner(this)
  connection.sessionsOf!.onSession(session)
  connection.changed.notify()
}

function onSecure(this: tls.TLSSocket): void {
  const connection = owner(this)
  connection.ticketWait?.secured()
  connection.inboundAtSecure = connection.bridge?.inboundChunks ?? 0
  connection.guard?.setProtocol(this.getProtocol() ?? "unknown")
  // A client's report, and the verification and first write it wakes, wait for the turn's end
  // (`setImmediate`) on node: node:tls sends our Finished only once this listener returned, and
  // the server, which cannot read our first bytes before it, takes it in while we verify.
  // Bun emits the client's keylog lines after secureConnect: the accepted-CA sniffer needs them
  if (
    (connection.side === "client" && runtime.finishedAfterSecureListeners) ||
    (runtime.keylogAfterSecure && connection.requests?.pending === true)
  ) {
    setImmediate(secured, connection, this)
  } else secured(connection, this)
}

function onError(this: tls.TLSSocket, error: unknown): void {
  recordError(owner(this), error)
}

/**
 * Native path, after the handshake: the plaintext at which a `readable` wakes the readers at
 * once. Four records (16 KiB each at most): a 64 KiB TCP read's worth.
 */
const NATIVE_WAKE_AT = 64 * 1024

/**
 * `readable` on the native path. node:tls hands JS each decrypted record in a call of its own
 * and runs the ticks and microtasks after it, so a reader woken at every `readable` is resumed
 * once per 16 KiB record: an `Effect.async`, a scheduler task and the fiber's steps, some 4 KiB
 * of short-lived objects a record, and the scavenges they bring were a tenth of a bulk
 * receiver's CPU. After the handshake the wake therefore waits until `NATIVE_WAKE_AT` (four
 * records, a 64 KiB TCP read) is buffered, or until the check phase of the same loop iteration
 * (an immediate) for what is left: the reader then takes the records in one resume, one read
 * each. The bound matters: a wake put off to the end of the turn with no bound (stop 20) kept
 * up to 200 KiB of records waiting, which V8's scavenges found alive and promoted, and the old
 * generation's growth set off a major GC every ~30 ms. Before the handshake every `readable`
 * wakes at once (the handshake's and the ticket wait's checks look at what node:tls read).
 */
function onNativeReadable(this: tls.TLSSocket): void {
  const connection = owner(this)
  if (!connection.state.secure || this.readableLength >= NATIVE_WAKE_AT) return connection.changed.notify()
  if (connection.wakeDeferred) return
  connection.wakeDeferred = true
  setImmediate(deferredWake, connection)
}

function deferredWake(connection: NodeTlsConnection): void {
  connection.wakeDeferred = false
  connection.changed.notify()
}

function onEnd(this: tls.TLSSocket): void {
  const connection = owner(this)
  connection.state.inputEnded(inputTruncated(connection.bridge, connection.nativeEnd))
  connection.changed.notify()
}

function onClose(this: tls.TLSSocket): void {
  const connection = owner(this)
  connection.state.socketClosed()
  connection.changed.notify()
}

// ---- the bridge's hooks into node:tls (`this`: the bridge; `TransportDuplex`'s `consumer*`)

/** What the bridge asks of node:tls, once the socket is made. */
const hookBridge = (bridge: TransportDuplex): void => {
  bridge.consumerEnded = consumerEnded
  bridge.consumerWriteEnded = consumerWriteEnded
  // (Deno destroys the bridge when its socket closes: the records still there go out first)
  if (runtime.destroysDuplexWithWritesPending) {
    bridge.keepWritesOnDestroy = true
    bridge.consumerTornDown = consumerTornDown
  }
  if (bridge.consumerFull === inputHeld) {
    // (Deno: node:tls starts reading a turn after it was made)
    setImmediate(releaseInput, bridge)
  } else bridge.consumerFull = consumerFull
}

function consumerEnded(this: TransportDuplex): boolean {
  return internals.endOfInputReceived(owner(this).socket!) === true
}

function consumerWriteEnded(this: TransportDuplex): boolean {
  return owner(this).socket!.writableEnded
}

function consumerTornDown(this: TransportDuplex): boolean {
  return owner(this).tornDown
}

function consumerFull(this: TransportDuplex): boolean {
  const socket = owner(this).socket!
  return socket.readableLength >= socket.readableHighWaterMark
}

/** Deno: the bridge gives node:tls nothing until it started (`runtime.inputBeforeStartThrows`). */
const inputHeld = (): boolean => true

const releaseInput = (bridge: TransportDuplex): void => {
  bridge.consumerFull = consumerFull
  // (nothing is read for a connection torn down meanwhile)
  if (!owner(bridge).tornDown) bridge.consumerRead()
}
