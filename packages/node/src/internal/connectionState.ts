/**
 * The state of one engine connection, as named states rather than a pile of booleans
 * (trio's SSLStream: OK / BROKEN / CLOSED):
 *
 * ```
 *   Idle ──start──▶ Handshaking ──secure──▶ Open ──close──▶ Closed
 *                        │  └────────close─────────────────▶ │
 *                        └──────────error (from any state)──▶ Broken
 * ```
 *
 * - `Idle`: no TLS socket yet (nothing asked for the connection);
 * - `Handshaking`: node:tls runs the handshake;
 * - `Open`: the handshake is done (`handshake` holds what it negotiated, read once);
 * - `Broken`: a failure was recorded; every later operation fails with it (first one wins);
 * - `Closed`: the TLS socket closed without a failure.
 *
 * The peer's direction is tracked beside it (`input`): a connection stays `Open` after the
 * peer's close_notify (half-close), and reads then see `Ended` or, without close_notify,
 * `Truncated`. Listeners record node's events here; waiters re-check it on every change.
 *
 * @internal
 */
import type { EngineHandshake } from "@effect-tls/core/TlsBackend"
import type * as TlsError from "@effect-tls/core/TlsError"

/**
 * Every phase is an object of one shape (`_tag`, `handshake`, `error`), so that the getters
 * below, read on every plaintext read and write, see one map (no "wrong map" deoptimization
 * when a connection moves on, or when connections in different phases share the code).
 *
 * @internal
 */
export type Phase =
  | { readonly _tag: "Idle"; readonly handshake: undefined; readonly error: undefined }
  | { readonly _tag: "Handshaking"; readonly handshake: undefined; readonly error: undefined }
  | { readonly _tag: "Open"; readonly handshake: EngineHandshake; readonly error: undefined }
  | { readonly _tag: "Broken"; readonly handshake: EngineHandshake | undefined; readonly error: TlsError.TlsError }
  | { readonly _tag: "Closed"; readonly handshake: EngineHandshake | undefined; readonly error: undefined }

const makePhase = <P extends Phase>(
  _tag: P["_tag"],
  handshake: P["handshake"],
  error: P["error"]
): P => ({ _tag, handshake, error }) as P

/** The peer's direction: still sending, ended with close_notify, or ended without it. @internal */
export type Input = "Open" | "Ended" | "Truncated"

const idle: Phase = makePhase("Idle", undefined, undefined)
const handshaking: Phase = makePhase("Handshaking", undefined, undefined)

/** @internal */
export class ConnectionState {
  phase: Phase = idle
  input: Input = "Open"

  /** The handshake's result, once it completed (kept when the connection broke or closed later). */
  get handshake(): EngineHandshake | undefined {
    return this.phase.handshake
  }

  get failure(): TlsError.TlsError | undefined {
    return this.phase.error
  }

  get secure(): boolean {
    return this.handshake !== undefined
  }

  get closed(): boolean {
    return this.phase._tag === "Closed"
  }

  start(): void {
    if (this.phase._tag === "Idle") this.phase = handshaking
  }

  secured(handshake: EngineHandshake): void {
    const phase = this.phase
    if (phase._tag === "Handshaking" || phase._tag === "Idle") this.phase = makePhase("Open", handshake, undefined)
    else if (phase._tag === "Broken" && phase.handshake === undefined) {
      this.phase = makePhase("Broken", handshake, phase.error)
    }
  }

  /** Records a failure; the first one wins. */
  broke(error: TlsError.TlsError): void {
    if (this.phase._tag !== "Broken") this.phase = makePhase("Broken", this.handshake, error)
  }

  inputEnded(truncated: boolean): void {
    if (this.input === "Open") this.input = truncated ? "Truncated" : "Ended"
  }

  socketClosed(): void {
    if (this.phase._tag !== "Broken" && this.phase._tag !== "Closed") {
      this.phase = makePhase("Closed", this.handshake, undefined)
    }
  }
}
