/**
 * A TCP `TransportServer`: node's net.Server accepts at once, so accepted sockets wait in a
 * bounded queue until the server pulls them (`accept`); beyond the bound they are refused
 * (destroyed at once).
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import type * as Transport from "@effect-tls/core/Transport"
import { TransportError } from "@effect-tls/core/Transport"
import type { TransportServer } from "@effect-tls/core/TransportServer"
import type * as SocketServer from "@effect/platform/SocketServer"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as tcp from "./tcp.js"

/** @internal */
export interface ListenerOptions {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly backlog?: number | undefined
  readonly maxQueued?: number | undefined
}

/** @internal */
export interface Listener extends TransportServer {
  /** Connections refused because the queue was full. */
  readonly refused: Effect.Effect<number>
}

/** @internal */
export const defaultMaxQueued = 1024

/**
 * The kernel's accept queue (node's default is 511): a burst of connections while the event
 * loop is busy with handshakes must not overflow it (dropped SYNs are retried after 1, 3, 7 s).
 *
 * @internal
 */
export const defaultBacklog = 4096

/** @internal */
export const make = (options: ListenerOptions = {}): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 0
    const maxQueued = Math.max(0, options.maxQueued ?? defaultMaxQueued)
    const description: Transport.Description = { kind: "tcp", local: `${host}:${port}` }
    const queue: Array<Net.Socket> = []
    /** A socket was queued, or the listener stopped. */
    const changed = Condition.make()
    let stopped = false
    let refused = 0
    // the listening handle closes at once; node's 'close' event waits for the accepted
    // sockets, which belong to their connections' scopes
    const stop = (server: Net.Server) => {
      stopped = true
      for (const socket of queue.splice(0)) socket.destroy()
      changed.notify()
      if (server.listening) server.close()
    }

    const server = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const server = Net.createServer({ allowHalfOpen: true, noDelay: true })
        server.on("error", () => {})
        server.on("connection", (socket) => {
          socket.on("error", () => {})
          if (stopped || queue.length >= maxQueued + changed.waiting) {
            refused++
            socket.destroy()
            return
          }
          queue.push(socket)
          changed.notify()
        })
        return server
      }),
      (server) => Effect.sync(() => stop(server))
    )

    yield* tcp.listenOn(server, { host, port, backlog: options.backlog ?? defaultBacklog }, description)
    const bound = server.address() as Net.AddressInfo
    const address: SocketServer.Address = { _tag: "TcpAddress", hostname: bound.address, port: bound.port }
    const local = tcp.acceptedLocal(server)

    const closed = () => new TransportError({ reason: "Closed", description })
    const take = changed.await((): Effect.Effect<Net.Socket, TransportError> | undefined => {
      while (queue.length > 0) {
        const socket = queue.shift()!
        if (!socket.destroyed) return Effect.succeed(socket)
      }
      return stopped ? Effect.fail(closed()) : undefined
    })

    return {
      address,
      // (adapted on first use: a TLS engine that takes the socket never pays for the adapter)
      accept: Effect.flatMap(take, (socket) => tcp.fromAcceptedSocket(socket, local)),
      stopAccepting: Effect.sync(() => stop(server)),
      refused: Effect.sync(() => refused)
    } satisfies Listener
  })
