/**
 * A `KeyLog` writing the `SSLKEYLOGFILE` format to a file (appended, created with mode 0600),
 * for Wireshark / tshark. Only for debugging: the file decrypts every connection it logs.
 *
 * @example
 * ```ts
 * import { NodeKeyLog } from "@effect-tls/node"
 * import { Effect } from "effect"
 *
 * // every handshake in `program` is logged to /tmp/keys.log
 * const debug = <A, E, R>(program: Effect.Effect<A, E, R>) =>
 *   Effect.provide(program, NodeKeyLog.layerFile("/tmp/keys.log"))
 * ```
 *
 * @since 0.1.0
 */
import * as KeyLog from "@effect-tls/core/KeyLog"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"

/**
 * @since 0.1.0
 * @category errors
 */
export class KeyLogError extends Data.TaggedError("KeyLogError")<{
  readonly reason: "Open"
  readonly path: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `key log ${this.reason} failed for ${this.path}${
      this.cause instanceof Error ? `: ${this.cause.message}` : ""
    }`
  }
}

/**
 * A key log appending to `path` until the scope closes. Each line is written at once
 * (synchronously), so the file is complete whenever a connection's handshake is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFile = (path: string): Effect.Effect<KeyLog.KeyLogShape, KeyLogError, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.try({
        try: () => Fs.openSync(path, "a", 0o600),
        catch: (cause) => new KeyLogError({ reason: "Open", path, cause })
      }),
      (fd) => Effect.sync(() => Fs.closeSync(fd))
    ),
    (fd) =>
      KeyLog.make((line) =>
        Effect.sync(() => {
          try {
            Fs.writeSync(fd, `${line}\n`)
          } catch {
            // a full disk loses a debugging line, never a connection
          }
        })
      )
  )

/**
 * Provides a `KeyLog` writing to `path`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (path: string): Layer.Layer<never, KeyLogError> => Layer.scoped(KeyLog.KeyLog, makeFile(path))

/**
 * `layerFile` at `$SSLKEYLOGFILE` when that variable is set; no key log otherwise.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv = (
  env: Readonly<Record<string, string | undefined>> = process.env
): Layer.Layer<never, KeyLogError> => {
  const path = env.SSLKEYLOGFILE
  return path === undefined || path === "" ? Layer.empty : layerFile(path)
}
