import * as Condition from "@effect-tls/core/Condition"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

describe("Condition", () => {
  it.effect("await re-checks on every notify and resumes each waiter once its check passes", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      let level = 0
      const atLeast = (n: number) => condition.await(() => (level >= n ? Effect.succeed(n) : undefined))
      const one = yield* Effect.fork(atLeast(1))
      const two = yield* Effect.fork(atLeast(2))
      const three = yield* Effect.fork(atLeast(3))
      yield* Effect.yieldNow()
      assert.strictEqual(condition.waiting, 3)
      level = 2
      condition.notify()
      assert.strictEqual(yield* Fiber.join(one), 1)
      assert.strictEqual(yield* Fiber.join(two), 2)
      assert.strictEqual(condition.waiting, 1)
      level = 3
      condition.notify()
      assert.strictEqual(yield* Fiber.join(three), 3)
      assert.strictEqual(condition.waiting, 0)
    }))

  it.effect("a check that passes at once never waits; failures come through", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      assert.strictEqual(yield* condition.await(() => Effect.succeed("now")), "now")
      const error = yield* Effect.flip(condition.await(() => Effect.fail("no")))
      assert.strictEqual(error, "no")
    }))

  it.effect("an interrupted waiter is removed; next waits for one notify", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      const waiting = yield* Effect.fork(condition.await(() => undefined))
      const next = yield* Effect.fork(condition.next)
      yield* Effect.yieldNow()
      assert.strictEqual(condition.waiting, 2)
      yield* Fiber.interrupt(waiting)
      assert.strictEqual(condition.waiting, 1)
      condition.notify()
      yield* Fiber.join(next)
      assert.strictEqual(condition.waiting, 0)
    }))

  it.effect("awaitPure resumes each waiter once its check passes, as await does", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      let level = 0
      assert.strictEqual(yield* condition.awaitPure(() => Effect.succeed("now")), "now")
      const atLeast = (n: number) => condition.awaitPure(() => (level >= n ? Effect.succeed(n) : undefined))
      const one = yield* Effect.fork(atLeast(1))
      const two = yield* Effect.fork(atLeast(2))
      yield* Effect.yieldNow()
      assert.strictEqual(condition.waiting, 2)
      level = 1
      condition.notify()
      assert.strictEqual(yield* Fiber.join(one), 1)
      assert.strictEqual(condition.waiting, 1)
      level = 2
      condition.notify()
      assert.strictEqual(yield* Fiber.join(two), 2)
      assert.strictEqual(condition.waiting, 0)
    }))

  it.effect("awaitPure: an interrupted waiter never resumes; it goes once its fiber ended, at a notify or an add", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      let ready = false
      let checks = 0
      const check = () => {
        checks++
        return ready ? Effect.succeed("ready") : undefined
      }
      const interrupted = yield* Effect.fork(condition.awaitPure(check))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      // no finalizer removed it
      assert.strictEqual(condition.waiting, 1)
      // a notify drops it without running its check (its fiber ended)
      const before = checks
      condition.notify()
      assert.strictEqual(checks, before)
      assert.strictEqual(condition.waiting, 0)
      // and an add drops it too
      const again = yield* Effect.fork(condition.awaitPure(check))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(again)
      const waiter = yield* Effect.fork(condition.awaitPure(check))
      yield* Effect.yieldNow()
      assert.strictEqual(condition.waiting, 1)
      ready = true
      condition.notify()
      assert.strictEqual(yield* Fiber.join(waiter), "ready")
      assert.strictEqual(condition.waiting, 0)
    }))

  it.effect("awaitPure: a waiter left by an interruption goes when its fiber waits there again", () =>
    Effect.gen(function*() {
      const condition = Condition.make()
      let ready = false
      let firstChecks = 0
      const first = () => {
        firstChecks++
        return undefined
      }
      const check = () => ready ? Effect.succeed("ready") : undefined
      // the interrupted fiber's finalizer waits on the same condition
      const fiber = yield* Effect.fork(
        condition.awaitPure(first).pipe(Effect.onInterrupt(() => Effect.asVoid(condition.awaitPure(check))))
      )
      yield* Effect.yieldNow()
      yield* Fiber.interruptFork(fiber)
      // until the finalizer waits
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      assert.strictEqual(condition.waiting, 1)
      const checked = firstChecks
      condition.notify()
      // the first waiter is gone: its check no longer runs
      assert.strictEqual(firstChecks, checked)
      ready = true
      condition.notify()
      yield* Fiber.await(fiber)
      assert.strictEqual(condition.waiting, 0)
    }))

  it("onNext calls back once at the next notify; its canceller removes it", () => {
    const condition = Condition.make()
    let calls = 0
    condition.onNext(() => calls++)
    const cancel = condition.onNext(() => calls += 10)
    assert.strictEqual(condition.waiting, 2)
    cancel()
    assert.strictEqual(condition.waiting, 1)
    condition.notify()
    condition.notify()
    assert.strictEqual(calls, 1)
    assert.strictEqual(condition.waiting, 0)
  })
})
