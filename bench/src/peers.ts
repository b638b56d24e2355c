/**
 * The peers the benchmarks combine: raw node:tls servers and clients (on the native TCP
 * socket, or over a plain JS Duplex wrapping it), and effect-tls servers and clients
 * (TlsServer behind NodeTransport.listen, TlsClient over NodeTransport.connect).
 *
 * A server is started per measurement and reports when it has received `total` bytes
 * ("sink") or echoes everything back ("echo"). A client connects, completes its handshake
 * (not timed), then writes `total` bytes in `chunk`-sized writes and returns the time from
 * its first write until the server counted every byte (sink) or until it read every byte
 * back (echo).
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import type { Context } from "./common.js"
import { checkRawSocket, checkSuite, KiB, now, once, run } from "./common.js"

export type Mode = "sink" | "echo"

export interface StartedServer {
  readonly port: number
  /** Resolves once the server has received `total` bytes (sink mode). */
  readonly received: Promise<void>
  readonly close: () => Promise<void>
}

const deferred = () => {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

const counter = (total: number, onDone: () => void) => {
  let count = 0
  let done = false
  return (chunk: Uint8Array) => {
    count += chunk.length
    if (!done && count >= total) {
      done = true
      onDone()
    }
  }
}

/** A plain JS Duplex over a net.Socket: what node:tls sees when given any JS stream. */
export class SocketDuplex extends Duplex {
  constructor(private readonly socket: net.Socket) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * KiB, writableHighWaterMark: 64 * KiB })
    socket.pause()
    socket.on("data", (chunk) => {
      if (!this.push(chunk)) socket.pause()
    })
    socket.on("end", () => this.push(null))
    socket.on("error", (error) => this.destroy(error))
  }
  override _read(): void {
    this.socket.resume()
  }
  override _write(chunk: Uint8Array, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, callback)
  }
  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback)
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy()
    callback(error)
  }
}

const listenRaw = async (server: net.Server, sockets: Set<Duplex>): Promise<StartedServer["close"]> => {
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
}

const serveRawSocket = (socket: tls.TLSSocket, sockets: Set<Duplex>, mode: Mode, onData: (c: Uint8Array) => void) => {
  sockets.add(socket)
  socket.on("close", () => sockets.delete(socket))
  socket.on("error", () => {})
  if (mode === "echo") {
    socket.pipe(socket)
  } else {
    socket.on("data", onData)
    socket.on("end", () => socket.end())
  }
}

/** `tls.createServer` on the native socket. */
export const startRawServer = async (context: Context, mode: Mode, total: number): Promise<StartedServer> => {
  const received = deferred()
  const sockets = new Set<Duplex>()
  const server = tls.createServer(context.rawServerOptions)
  server.on("tlsClientError", () => {})
  server.on("secureConnection", (socket) => serveRawSocket(socket, sockets, mode, counter(total, received.resolve)))
  const close = await listenRaw(server, sockets)
  return { port: (server.address() as net.AddressInfo).port, received: received.promise, close }
}

/** node:tls server over a plain JS Duplex wrapping each accepted TCP socket. */
export const startRawDuplexServer = async (context: Context, mode: Mode, total: number): Promise<StartedServer> => {
  const received = deferred()
  const sockets = new Set<Duplex>()
  const server = net.createServer({ allowHalfOpen: true }, (tcp) => {
    tcp.on("error", () => {})
    sockets.add(tcp)
    const socket = new tls.TLSSocket(new SocketDuplex(tcp), {
      isServer: true,
      secureContext: context.rawServerContext
    })
    serveRawSocket(socket, sockets, mode, counter(total, received.resolve))
  })
  const close = await listenRaw(server, sockets)
  return { port: (server.address() as net.AddressInfo).port, received: received.promise, close }
}

/** Reads until `total` plaintext bytes arrived. */
export const readCount = (connection: TlsConnection, total: number) =>
  Effect.gen(function*() {
    let count = 0
    while (count < total) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`end of input after ${count} of ${total} bytes`)
      count += chunk.value.length
    }
  })

/** Writes `total` bytes in writes of `chunk.length` bytes. */
export const writeAll = (connection: TlsConnection, chunk: Uint8Array, total: number) =>
  Effect.gen(function*() {
    let sent = 0
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent)
      yield* connection.write(n === chunk.length ? chunk : chunk.subarray(0, n))
      sent += n
    }
  })

/** The effect-tls server's per-connection handler. */
export const effectServerHandler =
  (context: Context, mode: Mode, onData: (chunk: Uint8Array) => void) => (transport: Transport) =>
    Effect.gen(function*() {
      const connection = yield* TlsServer.make(transport, context.serverOptions)
      while (true) {
        const chunk = yield* connection.read
        if (Option.isNone(chunk)) break
        if (mode === "echo") yield* connection.write(chunk.value)
        else onData(chunk.value)
      }
      yield* connection.closeWrite
    }).pipe(Effect.scoped)

/** TlsServer behind NodeTransport.listen, each connection in its own fiber. */
export const startEffectServer = async (context: Context, mode: Mode, total: number): Promise<StartedServer> => {
  const received = deferred()
  const scope = Effect.runSync(Scope.make())
  const port = await run(
    context,
    Effect.gen(function*() {
      const server = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
      yield* Effect.forkScoped(server.run(effectServerHandler(context, mode, counter(total, received.resolve))))
      return server.address.port
    }).pipe(Scope.extend(scope))
  )
  return { port, received: received.promise, close: () => run(context, Scope.close(scope, Exit.void)) }
}

const closeRawClient = (socket: tls.TLSSocket) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), 2_000)
    socket.once("close", () => {
      clearTimeout(timer)
      resolve()
    })
    socket.end()
  })

/** A raw node:tls client (native socket, or over a JS Duplex wrapping it). Returns ms. */
export const rawClient = async (
  context: Context,
  server: StartedServer,
  mode: Mode,
  chunk: Uint8Array,
  total: number,
  overDuplex = false
): Promise<number> => {
  const options = { servername: "localhost", secureContext: context.rawClientContext }
  let socket: tls.TLSSocket
  if (overDuplex) {
    const tcp = net.connect({ host: "127.0.0.1", port: server.port, allowHalfOpen: true })
    await once(tcp, "connect")
    socket = tls.connect({ ...options, socket: new SocketDuplex(tcp) })
  } else {
    socket = tls.connect({ ...options, host: "127.0.0.1", port: server.port })
  }
  socket.on("error", () => {})
  await once(socket, "secureConnect")
  checkRawSocket(socket)
  const echoed = deferred()
  if (mode === "echo") socket.on("data", counter(total, echoed.resolve))
  const start = now()
  let sent = 0
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent)
    const ok = socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))
    sent += n
    if (!ok) await once(socket, "drain")
  }
  await (mode === "echo" ? echoed.promise : server.received)
  const elapsed = now() - start
  await closeRawClient(socket)
  return elapsed
}

/** An effect-tls client: TlsClient.connect over NodeTransport.connect. Returns ms. */
export const effectClient = (
  context: Context,
  server: StartedServer,
  mode: Mode,
  chunk: Uint8Array,
  total: number
): Promise<number> =>
  run(
    context,
    Effect.gen(function*() {
      const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port: server.port })
      const connection = yield* TlsClient.connect(transport, context.clientOptions)
      const info = yield* connection.handshake
      checkSuite(info.protocolVersion, info.ciphersuiteName)
      const start = now()
      const reader = mode === "echo" ? yield* Effect.fork(readCount(connection, total)) : undefined
      yield* writeAll(connection, chunk, total)
      if (reader !== undefined) yield* Fiber.join(reader)
      else yield* Effect.promise(() => server.received)
      return now() - start
    }).pipe(Effect.scoped)
  )
