/**
 * Counts the process's live timers and immediates by wrapping the global `setTimeout`,
 * `setInterval`, `setImmediate` and their `clear*` functions (Effect's clock and the engine look
 * them up on `globalThis` at each call): a timer is live from its creation until it fires (a
 * timeout, an immediate) or is cleared, and counts while it holds the event loop (`hasRef()`), as
 * `process.getActiveResourcesInfo()` counts on Node. Bun's `getActiveResourcesInfo()` lists no
 * timer at all, so the leak check of interrupted connections counts them here on every runtime.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

interface Live {
  readonly kind: "Timeout" | "Interval" | "Immediate"
  readonly handle: { hasRef?: () => boolean }
}

/** @internal */
export interface LiveTimers {
  /** Live timers and immediates that hold the event loop. */
  readonly count: () => number
  /** Their kinds, for a failure's message. */
  readonly names: () => ReadonlyArray<string>
}

const globals = globalThis as unknown as Record<string, (...args: Array<any>) => any>

/** Wraps the timer globals for the scope's lifetime (restored at its end). */
export const track: Effect.Effect<LiveTimers, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const live = new Map<unknown, Live>()
    const names = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate"]
    const originals = Object.fromEntries(names.map((name) => [name, globals[name]!]))
    const forget = (handle: unknown) => {
      if (live.delete(handle)) return
      // (Node lets a timeout be cleared by its number: `clearTimeout(+timeout)`)
      if (typeof handle === "number" || typeof handle === "string") {
        for (const key of live.keys()) {
          if (Number(key as number) === Number(handle)) live.delete(key)
        }
      }
    }
    const wrap = (set: string, kind: Live["kind"], once: boolean) => {
      const original = originals[set]!
      globals[set] = function(callback: unknown, ...rest: Array<unknown>) {
        if (typeof callback !== "function") return original(callback, ...rest)
        const handle: any = original(function(this: unknown, ...args: Array<unknown>) {
          if (once) live.delete(handle)
          return (callback as (...args: Array<unknown>) => unknown).apply(this, args)
        }, ...rest)
        live.set(handle, { kind, handle })
        return handle
      }
    }
    const wrapClear = (clear: string) => {
      const original = originals[clear]!
      globals[clear] = function(handle: unknown) {
        forget(handle)
        return original(handle)
      }
    }
    wrap("setTimeout", "Timeout", true)
    wrap("setInterval", "Interval", false)
    wrap("setImmediate", "Immediate", true)
    wrapClear("clearTimeout")
    wrapClear("clearInterval")
    wrapClear("clearImmediate")
    const holding = () => [...live.values()].filter(({ handle }) => handle.hasRef?.() ?? true)
    return {
      originals,
      timers: {
        count: () => holding().length,
        names: () => holding().map(({ kind }) => kind)
      } satisfies LiveTimers
    }
  }),
  ({ originals }) => Effect.sync(() => Object.assign(globals, originals))
).pipe(Effect.map(({ timers }) => timers))
