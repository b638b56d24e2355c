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
 * within [20, 200] ms of wall clock, and at least `ticketWaitTurns` turns of the wait's own
 * timer (below).
 *
 * @internal
 */
export const ticketWaitMs = (handshakeMs: number): number => Math.min(200, Math.max(20, 3 * handshakeMs))

/**
 * How many times the wait's timer (every fifth of `ticketWaitMs`) must have run before the wait
 * ends for want of a ticket. A process too busy, or too starved of CPU, to run its timers did not
 * read the ticket either: on a loaded machine (load 18 on 2 cores, Bun, client and server in one
 * process) a 4 ms interval ran 1-3 times in waits of 20-127 ms of wall clock, and the ticket
 * (median 24 ms, up to 127 ms after the wait began; up to 7 handshake times) had always come by
 * the third; a bound of wall clock alone ended 4 waits in 36 before it. Counting turns also lets
 * I/O be read between the last two (after a stall, timers run before the poll for I/O).
 *
 * @internal
 */
export const ticketWaitTurns = 5

/** However slow the process, the wait ends after this long (ms, wall clock). @internal */
export const ticketWaitCapMs = 1000

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

  /** Until a ticket came, the connection stopped being quiet, or the bound passed (`ticketWaitTurns`). */
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
      const began = performance.now()
      let turns = 0
      let expired = false
      const timer = setInterval(() => {
        const elapsed = performance.now() - began
        if ((++turns >= ticketWaitTurns && elapsed >= ms) || elapsed >= ticketWaitCapMs) {
          expired = true
          changed.notify()
        }
      }, ms / ticketWaitTurns)
      timer.unref?.()
      // node:tls pulls ciphertext only when asked for plaintext: ask (nothing is consumed)
      socket.read(0)
      const arrived = changed.await(() => expired || sessionsOf.hasReceived || !mayCome() ? Effect.void : undefined)
        .pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
      // native path: node:tls emits each ticket of one flight from its own callback, and the
      // waiter resumes between them; the rest of the flight is in before the next turn
      return !native ? arrived : Effect.zipRight(arrived, nextTurn)
    })
  }
}
