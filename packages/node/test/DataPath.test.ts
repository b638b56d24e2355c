import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TlsServer from "@effect-tls/core/TlsServer"
import * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Layer, Option, type Scope, Stream } from "effect"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

const KiB = 1024

/** A client and a server over `pair`, both handshaken. */
const connected = (
  pair: Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>,
  requireCloseNotify = true
) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const [left, right] = yield* pair
    const server = yield* TlsServer.make(right, { certificate: fixture.server.certifiedKey, requireCloseNotify })
    // (connect runs the handshake: the server's must run beside it)
    const [client] = yield* Effect.all([
      TlsClient.connect(left, { serverIdentity: "localhost", database: fixture.pki.database, requireCloseNotify }),
      server.handshake
    ], { concurrency: 2 })
    return { client, server }
  })

const pattern = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff)

/** Reads until `length` bytes came, in order (within 10 s: a lost chunk fails rather than hangs). */
const readExactly = (connection: TlsConnection, length: number) =>
  Effect.gen(function*() {
    const out = new Uint8Array(length)
    let at = 0
    while (at < length) {
      const chunk = Option.getOrThrow(yield* connection.read)
      out.set(chunk, at)
      at += chunk.length
    }
    return out
  }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${length} bytes came`) }))

/** 32 KiB writes for 300 ms to a peer that does not read (the last ends up waiting for room): how many were done. */
const writeUntilBlocked = (connection: TlsConnection, seed: number) =>
  Effect.gen(function*() {
    const big = pattern(32 * KiB, seed)
    let written = 0
    yield* Effect.forever(Effect.zipRight(connection.write(big), Effect.sync(() => written++))).pipe(
      Effect.timeout("300 millis"),
      Effect.option
    )
    return written
  })

const pairs = [
  ["the memory pair (bridge)", MemoryTransport.pair(), true],
  ["TCP, native path", NodeTransport.pairForTest, false],
  ["TCP, default options", NodeTransport.pairForTest, true]
] as const

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "data path",
  (it) => {
    for (const [name, pair, requireCloseNotify] of pairs) {
      describe(name, () => {
        it.scoped("reads interrupted while they wait lose no plaintext, and the next read gets it", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            // many waits, each interrupted (a timeout): none of them may take the bytes that come later
            for (let i = 0; i < 20; i++) {
              assert.isTrue(Option.isNone(yield* Effect.timeout(client.read, "1 millis").pipe(Effect.option)))
            }
            // and one whose fiber is still busy (a finalizer) when the bytes come
            const busy = yield* Effect.fork(client.read.pipe(Effect.onInterrupt(() => Effect.sleep("200 millis"))))
            yield* Effect.sleep("20 millis")
            yield* Fiber.interruptFork(busy)
            yield* Effect.sleep("20 millis")
            const sent = pattern(48 * KiB, 1)
            yield* server.write(sent)
            yield* Fiber.await(busy)
            assert.deepStrictEqual(yield* readExactly(client, sent.length), sent)
          }))

        it.scoped("a write that waits for room and is interrupted leaves the connection usable", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            // the server does not read: the client's writes end up waiting for room
            const written = yield* writeUntilBlocked(client, 2)
            assert.isAbove(written, 0)
            // the server reads everything that was written, then the client writes on
            const reading = yield* Effect.fork(Stream.runDrain(server.stream))
            const tail = pattern(1000, 3)
            yield* client.write(tail)
            yield* client.closeWrite
            yield* reading
          }))

        it.scoped("flush waits while the peer does not read, and is done once it read", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            // the server does not read: the client's writes end up waiting for room
            const written = yield* writeUntilBlocked(client, 8)
            const flushing = yield* Effect.fork(client.flush)
            yield* Effect.sleep("50 millis")
            assert.isTrue(Option.isNone(yield* Fiber.poll(flushing)), "flush done while the peer read nothing")
            const reading = yield* Effect.fork(Stream.runDrain(server.stream))
            yield* Fiber.join(flushing)
            yield* client.closeWrite
            yield* Fiber.join(reading)
            assert.isAbove(written, 0)
          }))

        it.scoped("a stream chunk brings every record already there, in order", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            const sent = pattern(64 * KiB, 4)
            yield* server.write(sent)
            yield* server.closeWrite
            const first = Option.getOrThrow(yield* client.read)
            // node:tls decrypts ahead of its reader (up to its high-water mark): once the rest is
            // there, one pull takes every record of it
            yield* Effect.sleep("200 millis")
            const chunks = yield* client.stream.pipe(Stream.chunks, Stream.runCollect)
            const received = [first, ...Chunk.toReadonlyArray(Chunk.flatten(chunks))]
            const joined = new Uint8Array(received.reduce((n, chunk) => n + chunk.length, 0))
            let at = 0
            for (const chunk of received) {
              joined.set(chunk, at)
              at += chunk.length
            }
            assert.deepStrictEqual(joined, sent)
            // the three records after the first in one chunk
            assert.strictEqual(Chunk.unsafeGet(chunks, 0).length, 3)
          }))

        it.scoped("a sink's chunks go out whole and in order, and wait for room when the peer does not read", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            // chunks of many writes, small and large (one chunk is written in one go where the engine can)
            const writes = Array.from({ length: 64 }, (_, i) => pattern(i % 8 === 0 ? 40 * KiB : 100 + i, i))
            const chunk = Chunk.unsafeFromArray(writes)
            const perChunk = writes.reduce((n, bytes) => n + bytes.length, 0)
            const chunks = 48
            let pulled = 0
            const sending = yield* Effect.fork(
              Stream.fromChunks(...Array.from({ length: chunks }, () => chunk)).pipe(
                Stream.tap(() => Effect.sync(() => pulled++)),
                Stream.run(client.sink),
                Effect.zipRight(client.closeWrite)
              )
            )
            // the server does not read yet: the sink stops well short of everything
            yield* Effect.sleep("300 millis")
            assert.isBelow(pulled, chunks * writes.length)
            const received = yield* readExactly(server, chunks * perChunk)
            yield* Fiber.join(sending)
            assert.deepStrictEqual(received, joined(Array.from({ length: chunks }, () => writes).flat()))
            assert.isTrue(Option.isNone(yield* server.read))
          }))

        // (on the native path a reader's wake waits for 64 KiB or the check phase: a small record
        // must still reach its waiting reader, exchange after exchange)
        it.scoped("small records each reach a waiting reader, one exchange after another", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            for (let i = 0; i < 200; i++) {
              const ask = pattern(1 + (i % 100), i)
              yield* client.write(ask)
              assert.deepStrictEqual(yield* readExactly(server, ask.length), ask)
              const answer = pattern(1 + ((i * 13) % 300), i + 1)
              yield* server.write(answer)
              assert.deepStrictEqual(yield* readExactly(client, answer.length), answer)
            }
          }))

        it.scoped("a burst of records of every size arrives whole and in order, then the end", () =>
          Effect.gen(function*() {
            const { client, server } = yield* connected(pair, requireCloseNotify)
            // sizes around the record (16 KiB) and the wake's bound (64 KiB), and small ones between
            const sizes = [
              1,
              100,
              16 * KiB - 1,
              16 * KiB,
              16 * KiB + 1,
              64 * KiB - 1,
              64 * KiB,
              64 * KiB + 1,
              7,
              200 * KiB
            ]
            const writes = Array.from({ length: 40 }, (_, i) => pattern(sizes[i % sizes.length], i))
            const sending = yield* Effect.fork(
              Effect.zipRight(
                Effect.forEach(writes, (bytes) => server.write(bytes), { discard: true }),
                server.closeWrite
              )
            )
            const total = writes.reduce((n, bytes) => n + bytes.length, 0)
            const expected = new Uint8Array(total)
            let at = 0
            for (const bytes of writes) {
              expected.set(bytes, at)
              at += bytes.length
            }
            assert.deepStrictEqual(yield* readExactly(client, total), expected)
            assert.isTrue(Option.isNone(yield* client.read))
            yield* Fiber.join(sending)
          }))
      })
    }

    describe("the memory pair (bridge)", () => {
      /** `transport`, recording the length of each write asked of it (its fast path's and its own). */
      const recordingWrites = (transport: Transport.Transport, lengths: Array<number>): Transport.Transport => {
        const fast = Transport.immediate(transport)!
        return Transport.make({
          read: transport.read,
          write: (bytes) => Effect.zipRight(Effect.sync(() => lengths.push(bytes.length)), transport.write(bytes)),
          shutdownWrite: transport.shutdownWrite,
          description: transport.description,
          immediate: {
            ...fast,
            write: (bytes, handedOver) => {
              lengths.push(bytes.length)
              return fast.write(bytes, handedOver)
            },
            writeAll: undefined
          }
        })
      }

      it.scoped("a write is done once node:tls took it, flush once the transport took its records", () =>
        Effect.gen(function*() {
          const { control, left, right } = yield* Effect.orDie(MemoryTransport.pairWithControl({ capacity: 16 * KiB }))
          const { client, server } = yield* connected(Effect.succeed([left, right] as const))
          const before = (yield* control.stats("leftToRight")).written
          yield* control.stall("leftToRight")
          // two 8 KiB writes: the first's record fills the stalled transport, the second's waits
          // in the bridge, and both writes are done
          const writes = [pattern(8 * KiB, 6), pattern(8 * KiB, 7)]
          for (const bytes of writes) yield* client.write(bytes)
          const flushing = yield* Effect.fork(client.flush)
          yield* Effect.sleep("50 millis")
          assert.isTrue(Option.isNone(yield* Fiber.poll(flushing)), "flush done while the transport held a record back")
          assert.isBelow((yield* control.stats("leftToRight")).written - before, 16 * KiB)
          yield* control.release("leftToRight")
          yield* Fiber.join(flushing)
          assert.isAbove((yield* control.stats("leftToRight")).written - before, 16 * KiB)
          assert.deepStrictEqual(yield* readExactly(server, 16 * KiB), joined(writes))
        }))

      it.scoped("flush fails with a typed error when the transport is dropped under it", () =>
        Effect.gen(function*() {
          const { control, left, right } = yield* Effect.orDie(MemoryTransport.pairWithControl({ capacity: 16 * KiB }))
          const { client } = yield* connected(Effect.succeed([left, right] as const))
          yield* control.stall("leftToRight")
          for (const seed of [9, 10]) yield* client.write(pattern(8 * KiB, seed))
          const flushing = yield* Effect.fork(client.flush)
          yield* Effect.sleep("20 millis")
          yield* control.drop
          const exit = yield* Fiber.await(flushing).pipe(Effect.timeout("5 seconds"))
          assert.isTrue(Exit.isFailure(exit) && TlsError.isTlsError(Option.getOrNull(Cause.failureOption(exit.cause))))
        }))

      // (node's JSStreamSocket completes each write of the bridge from an immediate: written one at
      // a time, a sink's chunk of small writes would take a turn of the event loop per write)
      it.scoped("a sink's chunk leaves in corked batches: one transport write for many small writes, none over the mark", () =>
        Effect.gen(function*() {
          const lengths: Array<number> = []
          const { client, server } = yield* connected(
            Effect.map(MemoryTransport.pair(), ([left, right]) => [recordingWrites(left, lengths), right] as const)
          )
          // 64 writes of 1 KiB: one batch, written through in one or two transport writes
          lengths.length = 0
          const small = Array.from({ length: 64 }, (_, i) => pattern(KiB, i))
          const reading = yield* Effect.fork(readExactly(server, 64 * KiB))
          yield* Stream.run(Stream.fromChunk(Chunk.unsafeFromArray(small)), client.sink)
          assert.deepStrictEqual(yield* Fiber.join(reading), joined(small))
          assert.isAtMost(lengths.length, 2, `${lengths.length} transport writes for 64 small writes`)
          // 40 writes of 16 KiB (640 KiB): batches of at most 128 KiB of plaintext, in order
          lengths.length = 0
          const large = Array.from({ length: 40 }, (_, i) => pattern(16 * KiB, i + 1))
          const readingLarge = yield* Effect.fork(readExactly(server, 40 * 16 * KiB))
          yield* Stream.run(Stream.fromChunk(Chunk.unsafeFromArray(large)), client.sink)
          assert.deepStrictEqual(yield* Fiber.join(readingLarge), joined(large))
          // (a record's overhead: 22 bytes under AES-GCM with TLS 1.3, 8 records a batch)
          assert.isAtMost(
            Math.max(...lengths),
            128 * KiB + 8 * 22,
            `a transport write of ${Math.max(...lengths)} bytes`
          )
          assert.isAtLeast(lengths.length, 5)
          assert.isAtMost(lengths.length, 20)
        }))
    })
  }
)

/** The bytes of `writes`, one after the other. */
const joined = (writes: ReadonlyArray<Uint8Array>): Uint8Array => Uint8Array.from(Buffer.concat(writes))
