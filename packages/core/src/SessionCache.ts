/**
 * `SessionCache`: where clients keep TLS sessions for resumption (Gio's backend session
 * cache and `copy_session_state`).
 *
 * A client looks up a session under a key made of everything that must match for a
 * resumption to be safe and useful: the server identity and SNI, the transport's remote
 * address, the ALPN offer and the client certificate. Sessions hold the resumption secret, so
 * they travel as `Redacted` values.
 *
 * **Single use by default.** A session is **taken** (removed) when used: a TLS 1.3 ticket
 * offered twice lets a network observer link the two connections to one client (RFC 8446
 * §C.4: "clients SHOULD NOT reuse a ticket for multiple connections"; rustls does the same).
 * The cost is real: a node:tls (OpenSSL 3.0) server sends two tickets after a full handshake
 * and none after a resumed one, so with single-use tickets one sequential reconnection in three
 * is a full handshake (about 67 % resumed).
 *
 * **Reuse, when linkability does not matter** (raw node:tls and Go's crypto/tls reuse
 * tickets): `makeMemory({ reuseTickets: true })` / `layerMemory({ reuseTickets: true })` keep
 * the newest session of each key after use, so every reconnection can resume; a newer
 * session from the same server replaces the older one, which is never offered again.
 *
 * Resumption never skips verification: the peer's certificate of the original session is
 * verified again and the `AcceptCertificate` policy runs again.
 *
 * Concurrent connections to one server each take a session of their own, so a single-use
 * cache keeps up to 32 per server: with only a few, a burst of connections that all ran full
 * handshakes brings back two tickets each, most of which would be dropped, and the next burst
 * finds almost none (measured with 32 concurrent connections: 4 per server resumed 30 % of
 * them, 32 per server 53 %).
 *
 * **Where the cache comes from.** The `SessionCache` service when one is provided
 * (`layer`, `layerMemory`, `layerDisabled`); otherwise the backend's own cache, one per
 * backend layer (so two runtimes, or two tests, never share sessions); with neither,
 * resumption is off. The memory cache is bounded (256 servers, 32 sessions each, 1,024 in
 * all, oldest dropped first).
 *
 * @example
 * ```ts
 * import { SessionCache, type TlsBackend, type TlsError } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const myProgram: Effect.Effect<void, TlsError.TlsError, TlsBackend.TlsBackend>
 *
 * // every client connection in this program resumes through its own cache,
 * // reusing tickets (connections to one server become linkable)
 * const program = myProgram.pipe(Effect.provide(SessionCache.layerMemory({ capacity: 64, reuseTickets: true })))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * An engine's serialized session (opaque bytes; for node:tls, what its `session` event gives),
 * redacted: it holds the resumption secret.
 *
 * @since 0.1.0
 * @category models
 */
export type Session = Redacted.Redacted<Uint8Array>

/**
 * Wraps an engine's session bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const session = (bytes: Uint8Array): Session => Redacted.make(bytes)

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionCacheShape {
  /** Returns the session stored under `key` (and removes it, unless the cache reuses sessions). */
  readonly take: (key: string) => Effect.Effect<Option.Option<Session>>
  readonly put: (key: string, session: Session) => Effect.Effect<void>
}

/**
 * Options of the memory cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** At most this many keys (servers); default 256, the least recently stored dropped first. */
  readonly capacity?: number | undefined
  /** Single use: at most this many sessions per key (default 32), the oldest dropped first. */
  readonly perKey?: number | undefined
  /**
   * At most this many sessions in all (default 4 × `capacity`, 1,024): past it, the oldest
   * session of the least recently stored key is dropped.
   */
  readonly maxSessions?: number | undefined
  /**
   * Offer a session again after it was used: each key keeps only its newest session, which a
   * newer one replaces. Connections to one server then become linkable (RFC 8446 §C.4);
   * default `false` (single use).
   */
  readonly reuseTickets?: boolean | undefined
}

/**
 * A bounded in-memory cache: at most `perKey` sessions (default 32) for each of at most `capacity`
 * keys (default 256), and `maxSessions` in all (default 4 × `capacity`); the newest session is
 * taken first, the oldest dropped first. With `reuseTickets`, a key keeps its newest session
 * only, and taking it leaves it there.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): SessionCacheShape => {
  const capacity = Math.max(1, Math.floor(options.capacity ?? 256))
  const reuse = options.reuseTickets === true
  const perKey = reuse ? 1 : Math.max(1, Math.floor(options.perKey ?? 32))
  const maxSessions = Math.max(1, Math.floor(options.maxSessions ?? 4 * capacity))
  // insertion order = age: the least recently stored key goes first
  const sessions = new Map<string, Array<Session>>()
  let count = 0
  return {
    take: (key) =>
      Effect.sync(() => {
        const list = sessions.get(key)
        if (reuse) return Option.fromNullable(list?.[list.length - 1])
        const session = list?.pop()
        if (session !== undefined) count--
        if (list !== undefined && list.length === 0) sessions.delete(key)
        return Option.fromNullable(session)
      }),
    put: (key, session) =>
      Effect.sync(() => {
        const list = sessions.get(key) ?? []
        sessions.delete(key)
        list.push(session)
        count++
        if (list.length > perKey) {
          list.shift()
          count--
        }
        sessions.set(key, list)
        if (sessions.size > capacity) {
          const oldest = sessions.keys().next().value!
          count -= sessions.get(oldest)!.length
          sessions.delete(oldest)
        }
        while (count > maxSessions) {
          const [oldest, sessionsOf] = sessions.entries().next().value!
          sessionsOf.shift()
          count--
          if (sessionsOf.length === 0) sessions.delete(oldest)
        }
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
 * The cache client connections use. Without this service a client uses its backend's own
 * cache (one per backend layer, single use), or none.
 *
 * @since 0.1.0
 * @category tags
 */
export class SessionCache extends Context.Tag("@effect-tls/core/SessionCache")<SessionCache, SessionCacheShape>() {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (cache: SessionCacheShape): Layer.Layer<SessionCache> => Layer.succeed(SessionCache, cache)

/**
 * A fresh in-memory cache (see `makeMemory`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<SessionCache> =>
  Layer.sync(SessionCache, () => makeMemory(options))

/**
 * Turns resumption off.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<SessionCache> = Layer.succeed(SessionCache, disabled)

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
