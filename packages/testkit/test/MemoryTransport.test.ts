import * as Transport from "@effect-tls/core/Transport"
import { TransportError } from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TransportSuite from "@effect-tls/testkit/TransportSuite"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"

const KiB = 1024

// the default capacity: 128 KiB per direction
TransportSuite.run("memory, default options", MemoryTransport.pair(), { maxBufferedBytes: 128 * KiB })
TransportSuite.run("memory, 1000-byte chunks", MemoryTransport.pair({ chunkSize: 1000 }), {
  maxBufferedBytes: 128 * KiB
})
TransportSuite.run("memory, 1-byte chunks", MemoryTransport.pair({ chunkSize: 1 }), {
  maxBufferedBytes: 128 * KiB,
  payloadBytes: 48 * KiB
})
TransportSuite.run("memory, 100-byte buffers, 7-byte chunks", MemoryTransport.pair({ capacity: 100, chunkSize: 7 }), {
  maxBufferedBytes: 100,
  payloadBytes: 128 * KiB
})

const text = (s: string) => new TextEncoder().encode(s)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const failure = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const reasonOf = (u: unknown): string | undefined => u instanceof TransportError ? u.reason : undefined

describe("MemoryTransport", () => {
  it.effect("is deterministic: a whole exchange runs on TestClock without advancing it", () =>
    Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.pair({ chunkSize: 2 })
      assert.strictEqual(a.description.kind, "memory")
      yield* a.write(text("hello"))
      yield* a.shutdownWrite
      assert.strictEqual(decode(yield* TransportSuite.readAll(b)), "hello")
    }).pipe(Effect.scoped))

  it.effect("a 16 KiB write is delivered as one chunk, copied once", () =>
    Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.pair()
      const record = new Uint8Array(16 * KiB).fill(7)
      yield* a.write(record)
      record.fill(9) // the writer reuses its buffer
      const chunk = Option.getOrThrow(yield* b.read)
      assert.strictEqual(chunk.length, 16 * KiB)
      assert.isTrue(chunk.every((byte) => byte === 7))
    }).pipe(Effect.scoped))

  it.effect("chunkSize splits reads without merging writes", () =>
    Effect.gen(function*() {
      const [a, b] = yield* MemoryTransport.pair({ chunkSize: 3 })
      yield* a.write(text("abcdefg"))
      yield* a.write(text("hi"))
      const sizes: Array<number> = []
      for (let i = 0; i < 4; i++) sizes.push(Option.getOrThrow(yield* b.read).length)
      assert.deepStrictEqual(sizes, [3, 3, 1, 2])
    }).pipe(Effect.scoped))

  it.effect("backpressure: at most `capacity` bytes buffered, the writer resumes as the peer reads", () =>
    Effect.gen(function*() {
      const { control, left, right } = yield* MemoryTransport.pairWithControl({ capacity: 1000, chunkSize: 100 })
      const writer = yield* Effect.fork(left.write(new Uint8Array(2500).fill(1)))
      yield* Effect.yieldNow()
      let stats = yield* control.stats("leftToRight")
      assert.strictEqual(stats.buffered, 1000)
      assert.strictEqual(stats.pendingWrites, 1)
      assert.isTrue(Option.isNone(yield* Fiber.poll(writer)))
      let read = 0
      while (read < 2500) read += Option.getOrThrow(yield* right.read).length
      yield* Fiber.join(writer)
      stats = yield* control.stats("leftToRight")
      assert.deepStrictEqual(
        { buffered: stats.buffered, written: stats.written, delivered: stats.delivered, pending: stats.pendingWrites },
        { buffered: 0, written: 2500, delivered: 2500, pending: 0 }
      )
    }).pipe(Effect.scoped))

  it.effect("closing the scope fails pending reads and writes with Closed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { left, right } = yield* Scope.extend(MemoryTransport.pairWithControl({ capacity: 10 }), scope)
      const read = yield* Effect.fork(right.read)
      const write = yield* Effect.fork(left.write(new Uint8Array(100)))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(reasonOf(failure(yield* Fiber.await(read))), "Closed")
      assert.strictEqual(reasonOf(failure(yield* Fiber.await(write))), "Closed")
      assert.strictEqual(reasonOf(yield* Effect.flip(left.read)), "Closed")
      assert.strictEqual(reasonOf(yield* Effect.flip(left.shutdownWrite)), "Closed")
    }))

  it.effect("interrupted reads and writes leave no waiter behind", () =>
    Effect.gen(function*() {
      const { control, left, right } = yield* MemoryTransport.pairWithControl({ capacity: 10 })
      const read = yield* Effect.fork(right.read)
      const write = yield* Effect.fork(left.write(new Uint8Array(100)))
      yield* Effect.yieldNow()
      assert.strictEqual((yield* control.stats("leftToRight")).pendingWrites, 1)
      yield* Fiber.interrupt(read)
      yield* Fiber.interrupt(write)
      const stats = yield* control.stats("leftToRight")
      assert.strictEqual(stats.pendingReads, 0)
      assert.strictEqual(stats.pendingWrites, 0)
    }).pipe(Effect.scoped))

  it.effect("the immediate fast path agrees with the Effects: bytes, waiting, backpressure, end, failure", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { control, left, right } = yield* Scope.extend(MemoryTransport.pairWithControl({ capacity: 10 }), scope)
      const fromLeft = Transport.immediate(left)!
      const toRight = Transport.immediate(right)!
      assert.strictEqual(toRight.read(), "wait")
      let woken = 0
      toRight.whenReadable(() => woken++)
      assert.strictEqual(fromLeft.write(new Uint8Array(25)), 10)
      assert.strictEqual(woken, 1)
      assert.strictEqual(fromLeft.write(new Uint8Array(5)), 0)
      let writable = 0
      fromLeft.whenWritable(() => writable++)
      assert.strictEqual(toRight.read()!.length, 10)
      assert.strictEqual(writable, 1)
      yield* right.unread(text("back"))
      assert.strictEqual(decode(toRight.read() as Uint8Array), "back")
      yield* left.shutdownWrite
      assert.strictEqual(toRight.read(), null)
      // a fault armed at an offset goes through the Effect, which reports it
      yield* control.resetAfter("rightToLeft", 1)
      assert.strictEqual(Transport.immediate(right)!.write(new Uint8Array(4)), 0)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(Transport.immediate(left)!.read(), undefined)
      assert.strictEqual(reasonOf(failure(yield* Effect.exit(left.read))), "Closed")
    }))

  describe("fault injection", () => {
    it.effect("drop: both sides fail, pending and later operations", () =>
      Effect.gen(function*() {
        const { control, left, right } = yield* MemoryTransport.pairWithControl()
        yield* left.write(text("lost"))
        const pending = yield* Effect.fork(left.read)
        yield* Effect.yieldNow()
        yield* control.drop
        assert.strictEqual(reasonOf(failure(yield* Fiber.await(pending))), "Read")
        assert.strictEqual(reasonOf(yield* Effect.flip(right.read)), "Read") // buffered bytes are lost
        assert.strictEqual(reasonOf(yield* Effect.flip(right.write(text("x")))), "Write")
        assert.strictEqual(reasonOf(yield* Effect.flip(left.write(text("x")))), "Write")
      }).pipe(Effect.scoped))

    it.effect("resetAfter: exactly N bytes arrive, then both sides fail", () =>
      Effect.gen(function*() {
        const [a, b] = yield* MemoryTransport.pair({ leftToRight: { resetAfter: 10 } })
        yield* a.write(text("0123"))
        assert.strictEqual(reasonOf(yield* Effect.flip(a.write(text("456789abcdef")))), "Write")
        assert.strictEqual(decode(yield* TransportSuite.readExactly(b, 10)), "0123456789")
        assert.strictEqual(reasonOf(yield* Effect.flip(b.read)), "Read")
        assert.strictEqual(reasonOf(yield* Effect.flip(a.read)), "Read")
        assert.strictEqual(reasonOf(yield* Effect.flip(b.write(text("x")))), "Write")
      }).pipe(Effect.scoped))

    it.effect("corruptAt: flips the byte at that offset only", () =>
      Effect.gen(function*() {
        const { control, left, right } = yield* MemoryTransport.pairWithControl({
          chunkSize: 4,
          leftToRight: { corruptAt: 2 }
        })
        yield* control.corruptAt("leftToRight", 9)
        const sent = new Uint8Array(12).fill(0x0f)
        yield* left.write(sent.subarray(0, 5))
        yield* left.write(sent.subarray(5))
        const got = yield* TransportSuite.readExactly(right, 12)
        assert.deepStrictEqual(Array.from(got), [15, 15, 0xf0, 15, 15, 15, 15, 15, 15, 0xf0, 15, 15])
        assert.isTrue(sent.every((byte) => byte === 0x0f), "the writer's buffer is untouched")
      }).pipe(Effect.scoped))

    it.effect("truncateAfter: N bytes then end of input, no error on either side", () =>
      Effect.gen(function*() {
        const [a, b] = yield* MemoryTransport.pair({ leftToRight: { truncateAfter: 5 } })
        yield* a.write(text("abc"))
        yield* a.write(text("defgh"))
        yield* a.write(text("swallowed"))
        assert.strictEqual(decode(yield* TransportSuite.readAll(b)), "abcde")
        // the other direction is unaffected
        yield* b.write(text("ok"))
        assert.strictEqual(decode(yield* TransportSuite.readExactly(a, 2)), "ok")
      }).pipe(Effect.scoped))

    it.effect("delay: each chunk waits on the Clock (TestClock drives it)", () =>
      Effect.gen(function*() {
        const [a, b] = yield* MemoryTransport.pair({ chunkSize: 2, leftToRight: { delay: "100 millis" } })
        yield* a.write(text("abcd"))
        const first = yield* Effect.fork(b.read)
        yield* TestClock.adjust("99 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(first)))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(decode(Option.getOrThrow(yield* Fiber.join(first))), "ab")
        const second = yield* Effect.fork(b.read)
        yield* TestClock.adjust("100 millis")
        assert.strictEqual(decode(Option.getOrThrow(yield* Fiber.join(second))), "cd")
      }).pipe(Effect.scoped))

    it.effect("setDelay changes the delay while running", () =>
      Effect.gen(function*() {
        const { control, left, right } = yield* MemoryTransport.pairWithControl()
        yield* control.setDelay("rightToLeft", "1 second")
        yield* right.write(text("slow"))
        const read = yield* Effect.fork(left.read)
        yield* TestClock.adjust("999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(read)))
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(decode(Option.getOrThrow(yield* Fiber.join(read))), "slow")
        yield* control.setDelay("rightToLeft", undefined)
        yield* right.write(text("fast"))
        assert.strictEqual(decode(Option.getOrThrow(yield* left.read)), "fast")
      }).pipe(Effect.scoped))

    it.effect("stall: nothing is delivered until release; closing still ends a stalled read", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const { control, left, right } = yield* Scope.extend(
          MemoryTransport.pairWithControl({ leftToRight: { stalled: true } }),
          scope
        )
        yield* left.write(text("held"))
        yield* left.shutdownWrite
        const read = yield* Effect.fork(right.read)
        yield* Effect.yieldNow()
        assert.isTrue(Option.isNone(yield* Fiber.poll(read)))
        yield* control.release("leftToRight")
        assert.strictEqual(decode(Option.getOrThrow(yield* Fiber.join(read))), "held")
        assert.isTrue(Option.isNone(yield* right.read))
        // stall the other way, then close the scope: the pending read fails, it does not hang
        yield* control.stall("rightToLeft")
        yield* right.write(text("x"))
        const stalled = yield* Effect.fork(left.read)
        yield* Effect.yieldNow()
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(reasonOf(failure(yield* Fiber.await(stalled))), "Closed")
      }))

    it.effect("truncateAfter through the control handle, after bytes were already written", () =>
      Effect.gen(function*() {
        const { control, left, right } = yield* MemoryTransport.pairWithControl()
        yield* left.write(text("abcdef"))
        yield* control.truncateAfter("leftToRight", 3)
        yield* left.write(text("more"))
        // what was written before the fault is kept; the input then ends
        assert.strictEqual(decode(yield* TransportSuite.readAll(right)), "abcdef")
      }).pipe(Effect.scoped))

    it.effect("invalid options fail with a typed TlsConfigError naming the field (never a defect)", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [MemoryTransport.Options, ReadonlyArray<PropertyKey>]> = [
          [{ capacity: 0 }, ["capacity"]],
          [{ capacity: -1 }, ["capacity"]],
          [{ capacity: Number.NaN }, ["capacity"]],
          [{ chunkSize: 0 }, ["chunkSize"]],
          [{ chunkSize: 1.5 }, ["chunkSize"]],
          [{ leftToRight: { resetAfter: -1 } }, ["leftToRight", "resetAfter"]],
          [{ rightToLeft: { delay: "soon" as never } }, ["rightToLeft", "delay"]],
          [{ rightToLeft: { corruptAt: [1, -2] } }, ["rightToLeft", "corruptAt"]]
        ]
        for (const [options, path] of cases) {
          const exit = yield* Effect.exit(Effect.scoped(MemoryTransport.pair(options)))
          assert.isTrue(Exit.isFailure(exit) && !Cause.isDie(exit.cause), JSON.stringify(options))
          const error = yield* Effect.flip(Effect.scoped(MemoryTransport.pairWithControl(options)))
          assert.strictEqual(error._tag, "TlsConfigError")
          assert.deepStrictEqual(error.path.slice(0, path.length), path)
          assert.match(error.message, /^TLS Config: MemoryTransport options /)
        }
        // Infinity is a valid capacity and chunk size
        yield* Effect.scoped(MemoryTransport.pair({ capacity: Infinity, chunkSize: Infinity }))
      }))
  })
})
