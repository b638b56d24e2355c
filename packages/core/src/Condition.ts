/**
 * A condition to wait on, for code that bridges callback-driven state (a Node stream, a
 * buffer, a TLS engine) into Effect: state changes in callbacks, which call `notify`; an
 * Effect that needs the state to be in some shape calls `await` with a check, and the check
 * runs again on every `notify` until it gives a result.
 *
 * It is what every `Transport` implementation and engine needs once ("a set of waiters and
 * `Effect.async`"), written once: a waiter that is interrupted is removed, a waiter that
 * resumes removes itself, and `notify` with nobody waiting costs nothing.
 *
 * @example
 * ```ts
 * import { Condition } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * const queue: Array<Uint8Array> = []
 * const changed = Condition.make()
 *
 * // a callback pushes and notifies
 * const onData = (chunk: Uint8Array) => {
 *   queue.push(chunk)
 *   changed.notify()
 * }
 *
 * // an Effect waits until there is something to take
 * const take = changed.await(() => {
 *   const chunk = queue.shift()
 *   return chunk === undefined ? undefined : Effect.succeed(chunk)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/**
 * @since 0.1.0
 * @category models
 */
export interface Condition {
  /**
   * Waits until `check` returns an Effect, then continues with it. `check` runs at once,
   * then again on every `notify`; `undefined` means "not yet". Interruptible.
   */
  readonly await: <A, E = never, R = never>(
    check: () => Effect.Effect<A, E, R> | undefined
  ) => Effect.Effect<A, E, R>
  /**
   * `await` for a check that changes nothing (it only looks at the state and builds the Effect
   * to continue with: a lazy one where taking something is involved), at less cost per wait:
   * no finalizer is set up. An interrupted waiter is therefore not removed at once, but once
   * its fiber has ended (seen at a `notify` or when a waiter is added) or waits here again;
   * until then its check may still run (the result is dropped) and `waiting` counts it.
   * Interruptible.
   */
  readonly awaitPure: <A, E = never, R = never>(
    check: () => Effect.Effect<A, E, R> | undefined
  ) => Effect.Effect<A, E, R>
  /** Waits for the next `notify` (for loops that re-check by themselves). Interruptible. */
  readonly next: Effect.Effect<void>
  /**
   * Calls `callback` once, at the next `notify` (for code that waits in callbacks rather than
   * in a fiber); returns a function that removes it.
   */
  readonly onNext: (callback: () => void) => () => void
  /** Tells every waiter that the state changed: each re-checks. */
  readonly notify: () => void
  /** How many fibers are waiting. */
  readonly waiting: number
}

/**
 * A waiter: `wake` runs at every `notify` until it removes itself. `fiber` is set for the
 * waiters of `awaitPure` (none is removed by a finalizer): one that is stale (its fiber waits
 * here again, or has ended) is dropped when another waiter comes.
 */
interface Waiter {
  readonly wake: () => void
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

class ConditionImpl implements Condition {
  // one waiter needs no Set (the common case: one reader, one writer)
  private single: Waiter | undefined = undefined
  private many: Set<Waiter> | undefined = undefined

  get waiting(): number {
    return (this.single === undefined ? 0 : 1) + (this.many?.size ?? 0)
  }

  private add(waiter: Waiter): void {
    const fiber = waiter.fiber
    if (fiber !== undefined) this.dropStale(fiber)
    if (this.single === undefined && (this.many === undefined || this.many.size === 0)) {
      this.single = waiter
      return
    }
    if (this.many === undefined) this.many = new Set()
    this.many.add(waiter)
  }

  private remove(waiter: Waiter): void {
    if (this.single === waiter) this.single = undefined
    else this.many?.delete(waiter)
  }

  /** `awaitPure`'s waiters left by an interruption: of `fiber` (it waits again, so it no longer waits there), or of a fiber that ended. */
  private dropStale(fiber: Fiber.RuntimeFiber<unknown, unknown>): void {
    const single = this.single
    if (single !== undefined && isStale(single, fiber)) this.single = undefined
    const many = this.many
    if (many !== undefined && many.size > 0) {
      for (const waiter of many) if (isStale(waiter, fiber)) many.delete(waiter)
    }
  }

  readonly notify = (): void => {
    const single = this.single
    const many = this.many
    if (many === undefined || many.size === 0) {
      if (single !== undefined) single.wake()
      return
    }
    // a snapshot: waiters remove themselves when they resume
    const snapshot = [...many]
    if (single !== undefined) single.wake()
    for (const waiter of snapshot) waiter.wake()
  }

  // (a method, and `next` made on first use: a condition lives as long as its connection,
  // and most never need them; `notify` and `onNext` are handed out as callbacks, so bound)
  await<A, E, R>(check: () => Effect.Effect<A, E, R> | undefined): Effect.Effect<A, E, R> {
    return Effect.suspend(() => {
      const first = check()
      if (first !== undefined) return first
      return Effect.async<A, E, R>((resume) => {
        const waiter: Waiter = {
          wake: () => {
            const result = check()
            if (result !== undefined) {
              this.remove(waiter)
              resume(result)
            }
          },
          fiber: undefined
        }
        this.add(waiter)
        return Effect.sync(() => this.remove(waiter))
      })
    })
  }

  awaitPure<A, E, R>(check: () => Effect.Effect<A, E, R> | undefined): Effect.Effect<A, E, R> {
    // (`withFiberRuntime` suspends as `suspend` would, and gives the fiber)
    return Effect.withFiberRuntime<A, E, R>((fiber) => {
      const first = check()
      if (first !== undefined) return first
      // (no canceler: `Effect.async` then sets up no finalizer; a resume after an interruption
      // is ignored by the fiber, and the waiter goes once the fiber ended or waits here again)
      return Effect.async<A, E, R>((resume) => {
        const waiter: Waiter = {
          wake: () => {
            if (fiber.unsafePoll() !== null) return this.remove(waiter)
            const result = check()
            if (result !== undefined) {
              this.remove(waiter)
              resume(result)
            }
          },
          fiber: fiber as Fiber.RuntimeFiber<unknown, unknown>
        }
        this.add(waiter)
      })
    })
  }

  readonly onNext = (callback: () => void): () => void => {
    const waiter: Waiter = {
      wake: () => {
        this.remove(waiter)
        callback()
      },
      fiber: undefined
    }
    this.add(waiter)
    return () => this.remove(waiter)
  }

  private nextEffect: Effect.Effect<void> | undefined = undefined

  get next(): Effect.Effect<void> {
    return this.nextEffect ??= Effect.async<void>((resume) => {
      const waiter: Waiter = {
        wake: () => {
          this.remove(waiter)
          resume(Effect.void)
        },
        fiber: undefined
      }
      this.add(waiter)
      return Effect.sync(() => this.remove(waiter))
    })
  }
}

/** An `awaitPure` waiter that no longer waits: its fiber waits again (`fiber`), or it ended. */
const isStale = (waiter: Waiter, fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  waiter.fiber !== undefined && (waiter.fiber === fiber || waiter.fiber.unsafePoll() !== null)

/**
 * A new condition with nobody waiting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Condition => new ConditionImpl()
