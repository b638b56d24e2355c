/**
 * Session ticket keys shared by several server processes, rotatable: a ticket issued by any
 * process holding the keys resumes on any other. Keys are 48 random bytes each (OpenSSL's
 * layout: 16 bytes of key name, 16 of HMAC key, 16 of AES key), held as `Redacted`. New
 * tickets are issued under `current`; tickets under `previous` are still accepted. Where the
 * engine takes each ticket's key in the handshake (node: `TlsBackend.choosesTicketKeys`, for
 * services made by `make`), a ticket under `previous` is also replaced by one under `current`;
 * otherwise the server reads the ClientHello first and picks the key by the ticket's key name.
 * `rotate` makes the current key the previous one; after two rotations a ticket issued before
 * them no longer resumes.
 *
 * Go's counterpart is `tls.Config.SetSessionTicketKeys` (first key encrypts, all decrypt);
 * Node's `server.setTicketKeys()` / the `ticketKeys` option (one key only).
 *
 * @example
 * ```ts
 * import { TicketKeys, TlsServer } from "@effect-tls/core"
 * import { Effect, Redacted } from "effect"
 *
 * declare const sharedKeyBytes: Uint8Array, nextKeyBytes: Uint8Array
 *
 * const program = Effect.gen(function*() {
 *   // the same 48 bytes in every process (from a secret store)
 *   const keys = yield* TicketKeys.make(Redacted.make(sharedKeyBytes))
 *   // serve with `{ certificate, ticketKeys: keys }`; daily:
 *   yield* keys.rotate(Redacted.make(nextKeyBytes))
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as SubscriptionRef from "effect/SubscriptionRef"

/**
 * @since 0.1.0
 * @category models
 */
export interface Keys {
  readonly current: Redacted.Redacted<Uint8Array>
  readonly previous: Option.Option<Redacted.Redacted<Uint8Array>>
}

/**
 * @since 0.1.0
 * @category errors
 */
export class TicketKeysError extends Data.TaggedError("TicketKeysError")<{
  readonly reason: "BadLength"
  readonly detail: string
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `ticket keys refused (${this.reason}): ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly keys: Effect.Effect<Keys>
  /** `next` becomes current, current becomes previous, the old previous is forgotten. */
  readonly rotate: (next: Redacted.Redacted<Uint8Array>) => Effect.Effect<void, TicketKeysError>
  readonly ref: SubscriptionRef.SubscriptionRef<Keys>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TicketKeys extends Context.Tag("@effect-tls/core/TicketKeys")<TicketKeys, Service>() {}

/**
 * The length of one key.
 *
 * @since 0.1.0
 * @category constants
 */
export const keyLength = 48

const check = (key: Redacted.Redacted<Uint8Array>) =>
  Redacted.value(key).length === keyLength
    ? Effect.succeed(key)
    : Effect.fail(
      new TicketKeysError({
        reason: "BadLength",
        detail: `a ticket key has ${keyLength} bytes, not ${Redacted.value(key).length}`
      })
    )

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  current: Redacted.Redacted<Uint8Array>,
  previous?: Redacted.Redacted<Uint8Array> | undefined
): Effect.Effect<Service, TicketKeysError> =>
  Effect.gen(function*() {
    const ref = yield* SubscriptionRef.make<Keys>({
      current: yield* check(current),
      previous: previous === undefined ? Option.none() : Option.some(yield* check(previous))
    })
    const service: Service = {
      ref,
      keys: SubscriptionRef.get(ref),
      rotate: (next) =>
        Effect.flatMap(
          check(next),
          (next) => SubscriptionRef.update(ref, (keys) => ({ current: next, previous: Option.some(keys.current) }))
        )
    }
    readers.set(service, () => Effect.runSync(service.keys))
    return service
  })

/** The synchronous reader of each service made by `make` (its `keys` reads a `SubscriptionRef`, and never waits). */
const readers = new WeakMap<Service, () => Keys>()

/**
 * The keys of a service made by `make`, read synchronously (one function per service, so that an
 * engine may keep one secure context for it), for an engine that takes each ticket's key in the
 * handshake itself; undefined for any other service (its `keys` may wait: the server then reads
 * the ClientHello first and picks the key with `keyFor`).
 *
 * @since 0.1.0
 * @category utils
 * @internal
 */
export const keysNow = (service: Service): (() => Keys) | undefined => readers.get(service)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  current: Redacted.Redacted<Uint8Array>,
  previous?: Redacted.Redacted<Uint8Array> | undefined
): Layer.Layer<TicketKeys, TicketKeysError> => Layer.effect(TicketKeys, make(current, previous))

/**
 * The key that accepts a ticket offered in a ClientHello: `previous` when the ticket carries
 * its name, otherwise `current` (which also issues the new tickets).
 *
 * @since 0.1.0
 * @category utils
 */
export const keyFor = (keys: Keys, offered: ReadonlyArray<Uint8Array>): Redacted.Redacted<Uint8Array> => {
  if (Option.isNone(keys.previous)) return keys.current
  const name = Redacted.value(keys.previous.value).subarray(0, 16)
  const matches = (ticket: Uint8Array) => ticket.length >= 16 && name.every((byte, i) => ticket[i] === byte)
  return offered.some(matches) ? keys.previous.value : keys.current
}
