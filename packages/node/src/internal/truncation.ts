/**
 * Truncation: whether the peer's input ended without its close_notify, told per path, and
 * what the engine answers when it cannot be told.
 *
 * - The bridge: node:tls ends its readable side after a close_notify *before* the bridge
 *   delivered the transport's end of input; after a bare end of input it does not
 *   (`TransportDuplex.consumerEndedBeforeEof`, node's `_readableState.ended`).
 * - The native path: node internals say which end TLSWrap reported
 *   (`nodeInternals.watchNativeEnd`); an end nothing vouches for counts as truncation (the
 *   native path is taken without the watch only when close_notify is not required).
 * - Neither (another runtime without `_readableState`): `requireCloseNotify` is refused
 *   with a typed `Unavailable`, never guessed.
 *
 * @internal
 */
import type { EngineConfig } from "@effect-tls/core/TlsBackend"
import * as TlsError from "@effect-tls/core/TlsError"
import type { TransportDuplex } from "./bridge.js"
import * as internals from "./nodeInternals.js"

/**
 * At the TLS socket's `end`: the peer's input ended without close_notify.
 *
 * @internal
 */
export const inputTruncated = (
  bridge: TransportDuplex | undefined,
  nativeEnd: internals.NativeEndWatch | undefined
): boolean =>
  bridge !== undefined
    ? bridge.eofDelivered && !bridge.consumerEndedBeforeEof
    : nativeEnd?.end !== "closeNotify"

/**
 * What a read sees after a truncation when close_notify is required.
 *
 * @internal
 */
export const truncationError = (side: TlsError.Side): TlsError.TlsGenericError =>
  new TlsError.TlsGenericError({
    reason: "Eof",
    detail: "the transport ended without the peer's close_notify (truncation)",
    side
  })

/**
 * Without node's private `_readableState`, truncation cannot be told: the refusal (rather than
 * a guess), when there is one.
 *
 * @internal
 */
export const untellableTruncation = (config: EngineConfig, side: TlsError.Side): TlsError.TlsError | undefined =>
  config.requireCloseNotify && !internals.canTellTruncation()
    ? new TlsError.TlsGenericError({
      reason: "Unavailable",
      detail: "this runtime cannot tell a peer's close_notify from a bare end of input (requireCloseNotify)",
      side
    })
    : undefined
