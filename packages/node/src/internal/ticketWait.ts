/**
 * Client, when a `SessionCache` keeps its sessions: the wait for the server's first TLS 1.3
 * ticket when the connection closes right after its handshake (`EngineConnection.sessions`).
 * The wait's bound is a multiple of the handshake's own duration, measured here.
 *
 * @internal
 */
import type * as Condition from "@effect-tls/core/Condition"
import * as Effect from "effect/Effect"
import type * as tls from "node:tls"
import type { ClientSessions } from "./sessions.js"

/**
 * How long a client closing right after a TLS 1.3 handshake waits for the server's first ticket:
 * it comes about one handshake's time after ours completed (our Finished travels, the server
 * answers, and this process may be busy meanwhile), so three times the handshake's duration,
 * within [20, 200] ms.
 *
 * @internal
 */
export const ticketWaitMs = (handshakeMs: number): number => Math.min(200, Math.max(20, 3 * handshakeMs))

/** The next turn of the event loop (an immediate). */
const nextTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * One connection's wait: `started` when node:tls starts, `secured` at its handshake's end,
 * then `wait` at most `ticketWaitMs` of that handshake.
 *
 * @internal
 */
export class TicketWait {
  /** When node:tls was started, and how long its handshake took (ms, wall clock). */
  private startedAt = 0
  private handshakeMs = 0

  started(): void {
    this.startedAt = performance.now()
  }

  secured(): void {
    this.handshakeMs = performance.now() - this.startedAt
  }

  /** Until a ticket came, the connection stopped being quiet, or the bound passed. */
  wait(
    changed: Condition.Condition,
    socket: tls.TLSSocket,
    sessionsOf: ClientSessions,
    /** Nothing but a ticket can still be expected from the server. */
    mayCome: () => boolean,
    /** The native path (node:tls reads the TCP socket itself). */
    native: boolean
  ): Effect.Effect<void> {
    return Effect.suspend(() => {
      const ms = ticketWaitMs(this.handshakeMs)
      let expired = false
      const timer = setTimeout(() => {
        expired = true
        changed.notify()
      }, ms)
      timer.unref?.()
      // node:tls pulls ciphertext only when asked for plaintext: ask (nothing is consumed)
      socket.read(0)
      const arrived = changed.await(() => expired || sessionsOf.hasReceived || !mayCome() ? Effect.void : undefined)
        .pipe(Effect.ensuring(Effect.sync(() => clearTimeout(timer))))
      // native path: node:tls emits each ticket of one flight from its own callback, and the
      // waiter resumes between them; the rest of the flight is in before the next turn
      return !native ? arrived : Effect.zipRight(arrived, nextTurn)
    })
  }
}
