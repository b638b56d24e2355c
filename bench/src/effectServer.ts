/**
 * The effect-tls server of every TCP row: `TlsServer.make` behind `NodeTransport.listen`,
 * a fiber and a scope per connection (the listener's own). `native` sets `requireCloseNotify: false`;
 * `bridge` wraps each transport (`bridged`), so that the engine runs node:tls over its JS
 * Duplex; `default` (the default options) hands node:tls the TCP socket itself.
 */
import type { TlsBackend } from "@effect-tls/core/TlsBackend"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { bridged } from "./material.js"
import { type RunningServer, type ServerSpec, sinkCounter } from "./rawServer.js"

const ack = new Uint8Array([1])

const handler = ({ counters, key, material, mode, path, total }: ServerSpec) => (transport: Transport) =>
  Effect.gen(function*() {
    const options = material.serverOptions[key]
    const connection = yield* TlsServer.make(
      path === "bridge" ? bridged(transport) : transport,
      path === "native" ? { ...options, requireCloseNotify: false } : options
    )
    yield* connection.handshake
    counters.handshakes++
    if (mode === "noRead") return yield* Effect.never
    const arrived = sinkCounter(total)
    while (true) {
      const chunk = yield* connection.read
      if (Option.isNone(chunk)) break
      if (mode === "echo") yield* connection.write(chunk.value)
      else if (mode === "sink" && arrived(chunk.value.length)) yield* connection.write(ack)
    }
    yield* connection.closeWrite
    // (no Effect.scoped: the connection lives in the scope `run` gives each connection, closed
    // by the handler's exit; failures are not logged, see `run` below)
  })

export const startEffectServer = async (
  runtime: ManagedRuntime.ManagedRuntime<TlsBackend, never>,
  spec: ServerSpec
): Promise<RunningServer> => {
  const scope = Effect.runSync(Scope.make())
  const port = await runtime.runPromise(
    Effect.gen(function*() {
      const server = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0, backlog: 1024 })
      yield* Effect.forkScoped(server.run(handler(spec), { handlerFailureLogLevel: "None" }))
      return server.address.port
    }).pipe(Scope.extend(scope))
  )
  return { port, close: () => runtime.runPromise(Scope.close(scope, Exit.void)) }
}
