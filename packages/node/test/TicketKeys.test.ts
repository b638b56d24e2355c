/**
 * Session ticket keys shared by two server processes (issue 10): a ticket issued by one
 * resumes on the other; the previous key is still accepted after a rotation; after rotating
 * past it, the ticket no longer resumes.
 */
import * as TicketKeys from "@effect-tls/core/TicketKeys"
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Redacted } from "effect"
import * as Crypto from "node:crypto"
import * as Path from "node:path"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Peer from "./interop/Peer.js"

const decoder = new TextDecoder()
const newKey = () => Crypto.randomBytes(48).toString("hex")
const tsx = Path.resolve(import.meta.dirname, "../../../node_modules/.bin/tsx")
const script = Path.resolve(import.meta.dirname, "fixtures/ticketServer.ts")

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "ticket keys",
  (it) => {
    it.scoped("two server processes sharing keys resume each other's tickets, until rotated past", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
        const shared = newKey()
        const start = Effect.map(
          Peer.spawn(tsx, [script, files.chainFile, files.keyFile, shared], {
            ready: /^PORT (\d+)$/m,
            readyTimeout: "30 seconds"
          }),
          (peer) => ({ peer, port: Number(peer.readyMatch![1]) })
        )
        const [a, b] = yield* Effect.all([start, start], { concurrency: 2 })
        /** A connection to `port`; returns it and whether the server says it resumed. */
        const visit = (port: number, resumeFrom?: TlsClient.TlsClientConnection) =>
          Effect.gen(function*() {
            const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port })
            const conn = yield* TlsClient.connect(transport, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              ...(resumeFrom !== undefined ? { resumeFrom } : {})
            })
            // the server's line comes after its tickets
            const line = decoder.decode(Option.getOrThrow(yield* conn.read))
            const info = yield* conn.handshake
            return { conn, resumed: info.resumed, serverSays: line.trim() }
          })
        const fromA = yield* visit(a.port)
        assert.isFalse(fromA.resumed)
        const onB = yield* visit(b.port, fromA.conn)
        assert.isTrue(onB.resumed, "a ticket from A resumes on B")
        assert.strictEqual(onB.serverSays, "resumed=true")

        // one rotation: A's ticket (under the now previous key) is still accepted by B
        yield* b.peer.write(`rotate ${newKey()}\n`)
        yield* b.peer.waitFor(/ROTATED/)
        const fromA2 = yield* visit(a.port)
        assert.isTrue((yield* visit(b.port, fromA2.conn)).resumed, "the previous key still accepts")

        // a second rotation: the shared key is gone from B
        yield* b.peer.write(`rotate ${newKey()}\n`)
        yield* b.peer.waitFor(/ROTATED(.|\n)*ROTATED/)
        const fromA3 = yield* visit(a.port)
        const after = yield* visit(b.port, fromA3.conn)
        assert.isFalse(after.resumed, "rotated past: no resumption")
        assert.strictEqual(after.serverSays, "resumed=false")
      }))

    it.scoped("in memory: keys from the TicketKeys service, renewed past a rotation; a bad key length is refused", () =>
      Effect.gen(function*() {
        const fixture = yield* TestPki.TestPki
        const bad = yield* Effect.flip(TicketKeys.make(Redacted.make(new Uint8Array(16))))
        assert.strictEqual(bad.reason, "BadLength")
        const keys = yield* TicketKeys.make(Redacted.make(new Uint8Array(Crypto.randomBytes(48))))
        const once = (resumeFrom?: TlsClient.TlsClientConnection) =>
          Effect.gen(function*() {
            const [left, right] = yield* MemoryTransport.pair()
            // two servers (two secure contexts) with the same keys, one after the other
            const server = yield* Effect.fork(
              Effect.gen(function*() {
                const conn = yield* TlsServer.accept(right, { certificate: fixture.server.certifiedKey })
                yield* conn.write(new Uint8Array([1]))
                return yield* conn.handshake
              }).pipe(Effect.provideService(TicketKeys.TicketKeys, keys))
            )
            const conn = yield* TlsClient.connect(left, {
              serverIdentity: "localhost",
              database: fixture.pki.database,
              ...(resumeFrom !== undefined ? { resumeFrom } : {})
            })
            yield* conn.read
            const info = yield* Fiber.join(server)
            return { conn, resumed: info.resumed }
          })
        const first = yield* once()
        assert.isFalse(first.resumed)
        assert.isTrue((yield* once(first.conn)).resumed)
        // a ticket under the previous key resumes, and is replaced by one under the current key:
        // that one still resumes after the next rotation
        yield* keys.rotate(Redacted.make(new Uint8Array(Crypto.randomBytes(48))))
        const second = yield* once(first.conn)
        assert.isTrue(second.resumed, "the previous key still accepts")
        yield* keys.rotate(Redacted.make(new Uint8Array(Crypto.randomBytes(48))))
        assert.isTrue((yield* once(second.conn)).resumed, "the renewed ticket resumes after the next rotation")
        assert.isFalse((yield* once(first.conn)).resumed, "rotated past: no resumption")
      }))
  }
)
