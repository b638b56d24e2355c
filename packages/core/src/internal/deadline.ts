/**
 * A time limit that forks no fiber. `Effect.timeoutFail` races the effect against a sleep in
 * two new fibers, which on a handshake costs more than the rest of the connection's Effect
 * code. Here, on the live clock, a plain timer marks the time as up and runs `wake`, which
 * makes the effect end soon (the engine's `abort`: its pending handshake fails); the effect
 * then fails with `onTimeout()` whatever it ended with. On any other clock (`TestClock`, a
 * clock of the caller's) it is `Effect.timeoutFail`, so tests drive it as before.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** The timer functions of every runtime core supports (typed here: core compiles without DOM or Node types). */
declare const setTimeout: (callback: () => void, millis: number) => unknown
declare const clearTimeout: (handle: unknown) => void

/** The live clock's class: its time is the real time, so a plain timer stands for its sleep. */
const LiveClock = Clock.make().constructor

/** Longer than a JS timer can wait: never fires (as the live clock treats it). */
const maxTimerMillis = 2 ** 31 - 1

/**
 * The clock is the live one: a plain timer stands for its sleep.
 *
 * @internal
 */
export const isLive = (clock: Clock.Clock): boolean => clock instanceof LiveClock

/**
 * A plain timer of `millis` that runs `onTime`, with the deadline it marks; none (and no
 * deadline) when `millis` is longer than a timer can wait.
 *
 * @internal
 */
export const startTimer = (
  millis: number,
  onTime: () => void
): { readonly deadline: Deadline; readonly clear: () => void } => {
  if (!(millis <= maxTimerMillis)) return { deadline: { at: undefined }, clear: () => {} }
  const handle = setTimeout(onTime, millis)
  return { deadline: { at: Date.now() + millis }, clear: () => clearTimeout(handle) }
}

/** @internal */
export interface Deadline {
  /** The wall-clock time (ms) at which the time is up, when a timer is running. */
  readonly at: number | undefined
}

/**
 * Runs `body` for at most `duration`; past it, fails with `onTimeout()`. `body` gets the
 * deadline, for inner limits that must not outlast it.
 *
 * @internal
 */
export const within = <A, E>(
  duration: Duration.Duration,
  options: {
    readonly onTimeout: () => E
    /**
     * Makes `self` end soon; run once, in a fiber of its own, when the time is up. Without
     * one, `Effect.timeoutFail`.
     */
    readonly wake: Effect.Effect<void> | undefined
  },
  body: (deadline: Deadline) => Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.clockWith((clock) => {
    const millis = Duration.toMillis(duration)
    const wake = options.wake
    if (wake === undefined || !(clock instanceof LiveClock)) {
      return Effect.timeoutFail(body({ at: undefined }), { duration, onTimeout: options.onTimeout })
    }
    if (!(millis <= maxTimerMillis)) return body({ at: undefined })
    return Effect.suspend(() => {
      let timedOut = false
      const timer = startTimer(millis, () => {
        timedOut = true
        Effect.runFork(wake)
      })
      const checked = Effect.matchCauseEffect(body(timer.deadline), {
        onFailure: (cause) => timedOut ? Effect.fail(options.onTimeout()) : Effect.failCause(cause),
        onSuccess: (a) => timedOut ? Effect.fail(options.onTimeout()) : Effect.succeed(a)
      })
      return Effect.ensuring(checked, Effect.sync(timer.clear))
    })
  })
