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

/** @internal */
export type Phase =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Handshaking" }
  | { readonly _tag: "Open"; readonly handshake: EngineHandshake }
  | { readonly _tag: "Broken"; readonly error: TlsError.TlsError; readonly handshake: EngineHandshake | undefined }
  | { readonly _tag: "Closed"; readonly handshake: EngineHandshake | undefined }

/** The peer's direction: still sending, ended with close_notify, or ended without it. @internal */
export type Input = "Open" | "Ended" | "Truncated"

const idle: Phase = { _tag: "Idle" }
const handshaking: Phase = { _tag: "Handshaking" }

/** @internal */
export class ConnectionState {
  phase: Phase = idle
  input: Input = "Open"

  /** The handshake's result, once it completed (kept when the connection broke or closed later). */
  get handshake(): EngineHandshake | undefined {
    const phase = this.phase
    return phase._tag === "Idle" || phase._tag === "Handshaking" ? undefined : phase.handshake
  }

  get failure(): TlsError.TlsError | undefined {
    return this.phase._tag === "Broken" ? this.phase.error : undefined
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
    if (phase._tag === "Handshaking" || phase._tag === "Idle") this.phase = { _tag: "Open", handshake }
    else if (phase._tag === "Broken" && phase.handshake === undefined) this.phase = { ...phase, handshake }
  }

  /** Records a failure; the first one wins. */
  broke(error: TlsError.TlsError): void {
    if (this.phase._tag !== "Broken") this.phase = { _tag: "Broken", error, handshake: this.handshake }
  }

  inputEnded(truncated: boolean): void {
    if (this.input === "Open") this.input = truncated ? "Truncated" : "Ended"
  }

  socketClosed(): void {
    if (this.phase._tag !== "Broken" && this.phase._tag !== "Closed") {
      this.phase = { _tag: "Closed", handshake: this.handshake }
    }
  }
}
