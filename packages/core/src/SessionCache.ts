/**
 * `SessionCache`: where clients keep TLS sessions for resumption (Gio's backend session
 * cache and `copy_session_state`).
 *
 * A client looks up a session under a key made of everything that must match for a
 * resumption to be safe and useful: the server identity and SNI, the transport's remote
 * address, the ALPN offer and the client certificate. Sessions are **taken** (removed) when
 * used: TLS 1.3 tickets are single-use (RFC 8446 §C.4), and the engine stores the fresh
 * ticket the server sends on the resumed connection.
 *
 * Resumption never skips verification: the peer's certificate of the original session is
 * verified again and the `AcceptCertificate` policy runs again.
 *
 * The default cache lives in memory, bounded (256 servers, 4 sessions each, oldest dropped
 * first), one per program; `SessionCache.disabled` turns resumption off; `layerMemory` gives a fresh one.
 *
 * @example
 * ```ts
 * import { SessionCache, type TlsBackend, type TlsError } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const myProgram: Effect.Effect<void, TlsError.TlsError, TlsBackend.TlsBackend>
 *
 * // every client connection in this program resumes through its own cache
 * const program = myProgram.pipe(Effect.provide(SessionCache.layerMemory({ capacity: 64 })))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * An engine's serialized session (opaque bytes; for node:tls, what its `session` event gives).
 *
 * @since 0.1.0
 * @category models
 */
export type Session = Uint8Array

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionCacheShape {
  /** Removes and returns the session stored under `key`. */
  readonly take: (key: string) => Effect.Effect<Option.Option<Session>>
  readonly put: (key: string, session: Session) => Effect.Effect<void>
}

/**
 * A bounded in-memory cache: at most `perKey` sessions (default 4) for each of at most `capacity`
 * keys (default 256); the newest session is taken first, the oldest dropped first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: {
  readonly capacity?: number | undefined
  readonly perKey?: number | undefined
} = {}): SessionCacheShape => {
  const capacity = Math.max(1, options.capacity ?? 256)
  const perKey = Math.max(1, options.perKey ?? 4)
  // insertion order = age: the least recently stored key goes first
  const sessions = new Map<string, Array<Session>>()
  return {
    take: (key) =>
      Effect.sync(() => {
        const list = sessions.get(key)
        const session = list?.pop()
        if (list !== undefined && list.length === 0) sessions.delete(key)
        return Option.fromNullable(session)
      }),
    put: (key, session) =>
      Effect.sync(() => {
        const list = sessions.get(key) ?? []
        sessions.delete(key)
        list.push(session)
        if (list.length > perKey) list.shift()
        sessions.set(key, list)
        if (sessions.size > capacity) sessions.delete(sessions.keys().next().value!)
      })
  }
}

/**
 * A cache that keeps nothing: every handshake is a full one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const disabled: SessionCacheShape = {
  take: () => Effect.succeed(Option.none()),
  put: () => Effect.void
}

/**
 * The cache in use; defaults to one in-memory cache for the program.
 *
 * @since 0.1.0
 * @category tags
 */
export class SessionCache extends Context.Reference<SessionCache>()("@effect-tls/core/SessionCache", {
  defaultValue: (): SessionCacheShape => makeMemory()
}) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (cache: SessionCacheShape): Layer.Layer<never> => Layer.succeed(SessionCache, cache)

/**
 * A fresh in-memory cache.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: { readonly capacity?: number | undefined } = {}): Layer.Layer<never> =>
  Layer.sync(SessionCache, () => makeMemory(options))

/**
 * Turns resumption off.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<never> = Layer.succeed(SessionCache, disabled)

/**
 * The key a client's session is kept under.
 *
 * @since 0.1.0
 * @category utils
 */
export const key = (parts: {
  readonly serverIdentity: Option.Option<string>
  readonly serverName: Option.Option<string>
  readonly remote: string | undefined
  readonly alpn: ReadonlyArray<string>
  readonly clientCertificate: Option.Option<string>
}): string =>
  JSON.stringify([
    Option.getOrNull(parts.serverIdentity),
    Option.getOrNull(parts.serverName),
    parts.remote ?? null,
    parts.alpn,
    Option.getOrNull(parts.clientCertificate)
  ])
