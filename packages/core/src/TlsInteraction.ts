/**
 * `TlsInteraction`, Gio's `GTlsInteraction`: how the library asks the user (or the
 * program) for what it cannot know: the password of an encrypted private key, and a
 * client certificate when a server asks for one.
 *
 * The default interaction answers nothing: an encrypted key without a password fails with
 * `TlsBadCertificatePasswordError`, and a server's certificate request goes unanswered.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { DistinguishedName } from "./Certificate.js"
import type { CertifiedKey } from "./CertifiedKey.js"

/**
 * What is known when a password is asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface PasswordRequest {
  /** What the password unlocks, e.g. `"private key"`. */
  readonly description: string
  /** Whether an earlier answer was wrong. */
  readonly retry: boolean
}

/**
 * What is known when a client certificate is asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateRequest {
  /** The CA names the server announced (empty: any). */
  readonly acceptedCas: ReadonlyArray<DistinguishedName>
  readonly serverIdentity: Option.Option<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsInteractionShape {
  readonly askPassword: (request: PasswordRequest) => Effect.Effect<Option.Option<Redacted.Redacted<string>>>
  readonly requestCertificate: (request: CertificateRequest) => Effect.Effect<Option.Option<CertifiedKey>>
}

/**
 * The interaction used by the current fiber; defaults to `none`.
 *
 * @since 0.1.0
 * @category tags
 */
export class TlsInteraction extends Context.Reference<TlsInteraction>()("@effect-tls/core/TlsInteraction", {
  defaultValue: (): TlsInteractionShape => none
}) {}

/**
 * Answers nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: TlsInteractionShape = {
  askPassword: () => Effect.succeed(Option.none()),
  requestCertificate: () => Effect.succeed(Option.none())
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly askPassword?: TlsInteractionShape["askPassword"] | undefined
  readonly requestCertificate?: TlsInteractionShape["requestCertificate"] | undefined
}): TlsInteractionShape => ({
  askPassword: options.askPassword ?? none.askPassword,
  requestCertificate: options.requestCertificate ?? none.requestCertificate
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (interaction: TlsInteractionShape): Layer.Layer<never> =>
  Layer.succeed(TlsInteraction, interaction)
