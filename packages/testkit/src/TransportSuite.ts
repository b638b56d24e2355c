/**
 * The transport conformance suite: the contract every `Transport` must keep,
 * written once and run over any pair of connected transports (the in-memory
 * pair, loopback TCP, anything a user plugs in).
 *
 * It checks that bytes arrive in order and intact (small payloads, 1 MiB both
 * ways at once), half-close and end of input, `unread`, backpressure (a writer
 * to a peer that does not read blocks, with bounded buffering, and resumes when
 * the peer reads), that closing the scope ends pending operations with
 * `TransportError`s rather than hangs, and that interrupting a pending read or
 * write loses nothing and leaves the transport usable.
 *
 * @example
 * ```ts
 * import { MemoryTransport } from "@effect-tls/testkit"
 * import { TransportSuite } from "@effect-tls/testkit/vitest"
 *
 * TransportSuite.run("memory, 1-byte chunks", MemoryTransport.pair({ chunkSize: 1 }))
 * ```
 *
 * @since 0.1.0
 */
import * as Transport from "@effect-tls/core/Transport"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as bytes from "./internal/bytes.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Upper bound on the bytes a writer may get accepted while the peer does not
   * read (the transport's buffers in both directions, kernel buffers included).
   * Default 32 MiB, enough for loopback TCP; use the capacity for memory pairs.
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * Size of the large payloads (default 1 MiB): the bulk transfer each way and
   * what the backpressure test writes beyond `maxBufferedBytes`. Lower it for
   * very slow configurations such as 1-byte chunks.
   */
  readonly payloadBytes?: number | undefined
  /** Per-test timeout in milliseconds (default 20 000). */
  readonly timeout?: number | undefined
}

/**
 * Joins chunks into one array.
 *
 * @since 0.1.0
 * @category utils
 */
export const concat: (chunks: ReadonlyArray<Uint8Array>) => Uint8Array = bytes.concat

/**
 * Deterministic pseudo-random bytes (xorshift32).
 *
 * @since 0.1.0
 * @category utils
 */
export const randomBytes = (length: number, seed = 0x9e3779b9): Uint8Array => {
  const out = new Uint8Array(length)
  let x = seed | 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/**
 * Reads until the peer's end of input; fails the test on an empty chunk.
 *
 * @since 0.1.0
 * @category utils
 */
export const readAll = (transport: Transport.Transport): Effect.Effect<Uint8Array, Transport.TransportError> =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    while (true) {
      const chunk = yield* transport.read
      if (Option.isNone(chunk)) break
      if (chunk.value.length === 0) assert.fail("read returned an empty chunk")
      chunks.push(chunk.value)
    }
    return bytes.concat(chunks)
  })

/**
 * Reads exactly `length` bytes; fails the test if the input ends before.
 *
 * @since 0.1.0
 * @category utils
 */
export const readExactly = (
  transport: Transport.Transport,
  length: number
): Effect.Effect<Uint8Array, Transport.TransportError> =>
  Effect.gen(function*() {
    const out = new Uint8Array(length)
    let offset = 0
    while (offset < length) {
      const chunk = yield* transport.read
      if (Option.isNone(chunk)) {
        assert.fail(`end of input after ${offset} of ${length} bytes`)
      }
      const bytes = chunk.value
      if (bytes.length === 0) assert.fail("read returned an empty chunk")
      if (offset + bytes.length > length) {
        out.set(bytes.subarray(0, length - offset), offset)
        yield* transport.unread(bytes.subarray(length - offset))
        offset = length
      } else {
        out.set(bytes, offset)
        offset += bytes.length
      }
    }
    return out
  })

/**
 * Writes `bytes` in pieces of varying sizes (deterministic), up to `maxWrite`.
 *
 * @since 0.1.0
 * @category utils
 */
export const writeInPieces = (
  transport: Transport.Transport,
  bytes: Uint8Array,
  maxWrite = 70_000
): Effect.Effect<void, Transport.TransportError> =>
  Effect.gen(function*() {
    const sizes = randomBytes(64, bytes.length + 7)
    let offset = 0
    let i = 0
    while (offset < bytes.length) {
      const size = Math.max(1, Math.floor((sizes[i++ % sizes.length] / 255) * maxWrite))
      const end = Math.min(bytes.length, offset + size)
      yield* transport.write(bytes.subarray(offset, end))
      offset = end
    }
  })

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (s: string) => encoder.encode(s)

const assertSameBytes = (actual: Uint8Array, expected: Uint8Array, what: string) => {
  assert.strictEqual(actual.length, expected.length, `${what}: length`)
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`)
  }
}

const assertTransportFailure = <A, E>(exit: Exit.Exit<A, E>, what: string): void => {
  const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  assert.isTrue(Transport.isTransportError(error), `${what} should fail with a TransportError`)
}

/**
 * Writes `block` again and again (up to `limit` bytes) in a fiber, counting
 * accepted bytes, until it blocks; returns the fiber and the counter.
 */
const fillUntilBlocked = (
  transport: Transport.Transport,
  limit: number,
  block = new Uint8Array(64 * 1024).fill(0xab)
) =>
  Effect.gen(function*() {
    const accepted = yield* Ref.make(0)
    const writer = yield* Effect.fork(
      Effect.iterate(0, {
        while: (n) => n < limit,
        body: (n) =>
          Effect.zipRight(
            transport.write(block),
            Ref.updateAndGet(accepted, (a) => a + block.length)
          ).pipe(Effect.as(n + block.length))
      })
    )
    // blocked = no progress for 3 samples in a row, the writer still running
    let last = -1
    let still = 0
    while (still < 3) {
      yield* Effect.sleep("50 millis")
      const now = yield* Ref.get(accepted)
      const done = yield* Fiber.poll(writer)
      if (Option.isSome(done)) break
      still = now === last ? still + 1 : 0
      last = now
    }
    return { writer, accepted, block }
  })

/**
 * Registers the conformance tests for the transports made by `makePair`
 * (`[a, b]`, connected to each other; closing the scope closes both).
 *
 * @since 0.1.0
 * @category suites
 */
export const run = <E>(
  name: string,
  makePair: Effect.Effect<readonly [Transport.Transport, Transport.Transport], E, Scope.Scope>,
  options?: Options | undefined
): void => {
  const maxBuffered = options?.maxBufferedBytes ?? 32 * 1024 * 1024
  const payload = options?.payloadBytes ?? 1024 * 1024
  const timeout = options?.timeout ?? 20_000
  const guard = <A, E2, R>(self: Effect.Effect<A, E2, R>) =>
    Effect.timeoutFail(self, {
      duration: timeout - 2_000,
      onTimeout: () => new Error("transport suite: the test hung")
    })
  const pair = Effect.orDie(makePair)

  describe(`Transport conformance: ${name}`, () => {
    it.scopedLive("small payloads arrive in order, both ways", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        assert.isTrue(Transport.isTransport(a))
        assert.isString(a.description.kind)
        for (const word of ["one", "two", "three"]) yield* a.write(text(word))
        yield* b.write(text("back"))
        assert.strictEqual(decoder.decode(yield* readExactly(b, 11)), "onetwothree")
        assert.strictEqual(decoder.decode(yield* readExactly(a, 4)), "back")
        yield* a.write(new Uint8Array(0)) // a zero-length write is accepted and carries nothing
        yield* a.write(text("!"))
        assert.strictEqual(decoder.decode(yield* readExactly(b, 1)), "!")
      })), timeout)

    it.scopedLive(`${payload} bytes both directions at once, in order and intact`, () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        const ab = randomBytes(payload, 1)
        const ba = randomBytes(payload, 2)
        const [, , gotAb, gotBa] = yield* Effect.all([
          writeInPieces(a, ab).pipe(Effect.zipRight(a.shutdownWrite)),
          writeInPieces(b, ba).pipe(Effect.zipRight(b.shutdownWrite)),
          readAll(b),
          readAll(a)
        ], { concurrency: "unbounded" })
        assertSameBytes(gotAb, ab, "a -> b")
        assertSameBytes(gotBa, ba, "b -> a")
      })), timeout)

    it.scopedLive("the writer may reuse its buffer once write resolves", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        const reader = yield* Effect.fork(readAll(b))
        const buffer = new Uint8Array(1000)
        for (let i = 0; i < 5; i++) {
          buffer.fill(i + 1)
          yield* a.write(buffer)
        }
        yield* a.shutdownWrite
        const got = yield* Fiber.join(reader)
        assert.strictEqual(got.length, 5000)
        for (let i = 0; i < 5; i++) {
          assert.isTrue(got.subarray(i * 1000, i * 1000 + 1000).every((byte) => byte === i + 1), `write ${i}`)
        }
      })), timeout)

    it.scopedLive(
      "half-close: end of input after the buffered bytes, the other way goes on",
      () =>
        guard(Effect.gen(function*() {
          const [a, b] = yield* pair
          yield* a.write(text("last words"))
          yield* a.shutdownWrite
          assert.strictEqual(decoder.decode(yield* readAll(b)), "last words")
          // end of input is sticky
          assert.isTrue(Option.isNone(yield* b.read))
          assert.isTrue(Option.isNone(yield* b.read))
          // the other direction still works
          yield* b.write(text("still here"))
          assert.strictEqual(decoder.decode(yield* readExactly(a, 10)), "still here")
          yield* b.shutdownWrite
          assert.isTrue(Option.isNone(yield* a.read))
        })),
      timeout
    )

    it.scopedLive("writing after shutdownWrite fails with reason Write", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        yield* a.shutdownWrite
        const error = yield* Effect.flip(a.write(text("too late")))
        assert.isTrue(Transport.isTransportError(error))
        assert.strictEqual(error.reason, "Write")
        assert.isTrue(Option.isNone(yield* b.read))
      })), timeout)

    it.scopedLive("unread pushes bytes back in front of the input", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        yield* a.write(text("abcdef"))
        const first = yield* readExactly(b, 3)
        assert.strictEqual(decoder.decode(first), "abc")
        yield* b.unread(text("XY"))
        yield* b.unread(first)
        assert.strictEqual(decoder.decode(yield* readExactly(b, 8)), "abcXYdef")
        yield* a.shutdownWrite
        assert.isTrue(Option.isNone(yield* b.read))
        // pushing back after the end of input is read again before the end
        yield* b.unread(text("again"))
        assert.strictEqual(decoder.decode(yield* readAll(b)), "again")
      })), timeout)

    it.scopedLive(
      "backpressure: a writer to a peer that does not read blocks, bounded, then resumes",
      () =>
        guard(Effect.gen(function*() {
          const [a, b] = yield* pair
          const limit = maxBuffered + payload
          const { accepted, block, writer } = yield* fillUntilBlocked(a, limit)
          const stuck = yield* Ref.get(accepted)
          assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer should be blocked")
          assert.isAtMost(stuck, maxBuffered, "bytes accepted while the peer does not read")
          // the peer reads: the writer resumes and finishes, every byte arrives
          const reader = yield* Effect.fork(readAll(b))
          yield* Fiber.join(writer)
          yield* a.shutdownWrite
          const got = yield* Fiber.join(reader)
          const total = yield* Ref.get(accepted)
          assert.isAtLeast(total, limit)
          assert.strictEqual(got.length, total)
          assert.isTrue(got.every((byte) => byte === block[0]))
        })),
      timeout
    )

    it.scopedLive(
      "closing the scope fails pending reads and writes (no hang), and later ones",
      () =>
        guard(Effect.gen(function*() {
          const scope = yield* Scope.make()
          const [a] = yield* Scope.extend(pair, scope)
          const pendingRead = yield* Effect.fork(a.read)
          const { writer } = yield* fillUntilBlocked(a, maxBuffered + payload)
          assert.isTrue(Option.isNone(yield* Fiber.poll(pendingRead)))
          assert.isTrue(Option.isNone(yield* Fiber.poll(writer)))
          yield* Scope.close(scope, Exit.void)
          const readExit = yield* Fiber.await(pendingRead)
          const writeExit = yield* Fiber.await(writer)
          assertTransportFailure(readExit, "pending read")
          assertTransportFailure(writeExit, "pending write")
          const later = yield* Effect.flip(a.read)
          assert.isTrue(Transport.isTransportError(later))
          const laterWrite = yield* Effect.flip(a.write(text("x")))
          assert.isTrue(Transport.isTransportError(laterWrite))
        })),
      timeout
    )

    it.scopedLive("interrupting a pending read loses nothing", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        for (let i = 0; i < 3; i++) {
          const pending = yield* Effect.fork(a.read)
          yield* Effect.sleep("10 millis")
          yield* Fiber.interrupt(pending)
        }
        yield* b.write(text("kept"))
        assert.strictEqual(decoder.decode(yield* readExactly(a, 4)), "kept")
      })), timeout)

    it.scopedLive("interrupting a pending write leaves the transport usable", () =>
      guard(Effect.gen(function*() {
        const [a, b] = yield* pair
        const { accepted, block, writer } = yield* fillUntilBlocked(a, maxBuffered + payload)
        yield* Fiber.interrupt(writer)
        const before = yield* Ref.get(accepted)
        const reader = yield* Effect.fork(readAll(b))
        const marker = text("-the end-")
        yield* a.write(marker)
        yield* a.shutdownWrite
        const got = yield* Fiber.join(reader)
        // what was accepted arrived; the interrupted write may have delivered a prefix
        assert.isAtLeast(got.length, before + marker.length)
        assert.isAtMost(got.length, before + block.length + marker.length)
        assert.strictEqual(decoder.decode(got.subarray(got.length - marker.length)), "-the end-")
        assert.isTrue(got.subarray(0, got.length - marker.length).every((byte) => byte === block[0]))
      })), timeout)
  })
}
