/**
 * `KeyLog`: where an engine sends the TLS secrets of each connection, one NSS key-log line at
 * a time (`CLIENT_RANDOM ...` for TLS 1.2, `CLIENT_HANDSHAKE_TRAFFIC_SECRET ...` and friends
 * for TLS 1.3), the `SSLKEYLOGFILE` format that Wireshark and tshark read to decrypt a capture.
 *
 * **Off by default**: with the default (`KeyLog.disabled`) no engine asks for a secret at all.
 * Turn it on only to debug, with a layer you provide on purpose, e.g.
 * `NodeKeyLog.layerFile(path)` from `@effect-tls/node` or `KeyLog.layer(KeyLog.make(...))`.
 * Anyone who reads the lines can decrypt the connections they came from.
 *
 * @example
 * ```ts
 * import { KeyLog } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * const lines: Array<string> = []
 * const collect = KeyLog.layer(KeyLog.make((line) => Effect.sync(() => lines.push(line))))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyLogShape {
  /** `false`: engines do not ask for secrets (the default). */
  readonly enabled: boolean
  /** One key-log line, without its line break. */
  readonly log: (line: string) => Effect.Effect<void>
}

/**
 * Logs nothing, and tells engines not to ask for secrets.
 *
 * @since 0.1.0
 * @category constructors
 */
export const disabled: KeyLogShape = { enabled: false, log: () => Effect.void }

/**
 * A key log sending each line to `log`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (log: (line: string) => Effect.Effect<void>): KeyLogShape => ({ enabled: true, log })

/**
 * The key log engines use; `disabled` unless a layer provides one.
 *
 * @since 0.1.0
 * @category tags
 */
export class KeyLog extends Context.Reference<KeyLog>()("@effect-tls/core/KeyLog", {
  defaultValue: (): KeyLogShape => disabled
}) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (keyLog: KeyLogShape): Layer.Layer<never> => Layer.succeed(KeyLog, keyLog)
