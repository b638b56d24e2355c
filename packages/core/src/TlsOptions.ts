/**
 * The schemas every public options object is checked against before anything is opened:
 * `TlsClient` and `TlsServer` options, and the pieces transports and the testkit reuse
 * (durations, ALPN names, ports, host names). A value that does not fit fails with
 * `TlsConfigError`, naming the field and saying why; it never throws, and it never reaches
 * the engine (node:tls aborts the process on an empty ALPN name).
 *
 * @example
 * ```ts
 * import { TlsClient, type Transport } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * declare const transport: Transport.Transport
 *
 * // fails with TlsConfigError: TlsClient options alpn[0]: an ALPN protocol name is 1 to 255 bytes
 * const program = TlsClient.connect(transport, { serverIdentity: "example.com", alpn: [""] }).pipe(
 *   Effect.catchTag("TlsConfigError", (error) => Effect.logError(error.message))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { CertifiedKey } from "./CertifiedKey.js"
import * as Credentials from "./Credentials.js"
import * as hostName from "./internal/hostName.js"
import * as validated from "./internal/validated.js"
import * as ProtocolVersion from "./ProtocolVersion.js"
import { TlsConfigError } from "./TlsError.js"

/**
 * A `Duration.DurationInput` that decodes to a duration of zero or more (not `NaN`, not negative).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationInput: Schema.Schema<Duration.DurationInput> = Schema.declare(
  (u: unknown): u is Duration.DurationInput => {
    if (typeof u === "number") return !Number.isNaN(u) && u >= 0
    if (typeof u === "bigint") return u >= 0n
    if (typeof u === "string" && /^\s*-|NaN/.test(u)) return false
    if (Array.isArray(u) && u.some((n) => typeof n !== "number" || !Number.isFinite(n) || n < 0)) return false
    return Duration.decodeUnknown(u)._tag === "Some"
  },
  {
    identifier: "DurationInput",
    message: (issue) =>
      `expected a duration of zero or more (e.g. 5000, "5 seconds", Duration.seconds(5)), got ${
        describeValue(issue.actual)
      }`
  }
)

/** The UTF-8 length of a string (a lone surrogate counts as U+FFFD, 3 bytes, as an encoder writes it). */
const utf8Length = (s: string): number => {
  let n = 0
  for (const char of s) {
    const c = char.codePointAt(0)!
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4
  }
  return n
}

/**
 * An ALPN protocol name: 1 to 255 bytes of UTF-8 (RFC 7301 §3.1).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AlpnProtocol: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((name) => {
    const length = utf8Length(name)
    return length >= 1 && length <= 255
  }, {
    message: (issue) => `an ALPN protocol name is 1 to 255 bytes, got ${utf8Length(String(issue.actual))}`
  })
)

/**
 * An ALPN offer: protocol names whose encoded list fits in the extension (at most 65,535 bytes).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AlpnProtocols: Schema.Schema<ReadonlyArray<string>> = Schema.Array(AlpnProtocol).pipe(
  Schema.filter(
    (names) => names.reduce((n, name) => n + 1 + utf8Length(name), 0) <= 65535,
    { message: () => "the ALPN protocol list is longer than 65,535 bytes" }
  )
)

const hasSpaceOrControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f || c === 0x2f || (c >= 0x80 && /\s/.test(s[i]!))) return true
  }
  return false
}

/**
 * A host to reach or to check a certificate against: a DNS name or an IP address (IPv6
 * possibly bracketed, with a zone), without spaces or control characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Host: Schema.Schema<string> = Schema.String.pipe(
  Schema.filter((host) => host.length > 0 && host.length <= 1024 && !hasSpaceOrControl(host), {
    message: (issue) => `expected a host name or an IP address, got ${describeValue(issue.actual)}`
  })
)

/**
 * A TCP port, 0 to 65535 (0: any free port, for listening).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Port: Schema.Schema<number> = Schema.Number.pipe(
  Schema.filter((port) => Number.isInteger(port) && port >= 0 && port <= 65535, {
    message: (issue) => `expected an integer port from 0 to 65535, got ${describeValue(issue.actual)}`
  })
)

/**
 * A whole number of at least `minimum` (`Infinity` allowed when `infinite` is set).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Count = (minimum: number, options?: { readonly infinite?: boolean | undefined }): Schema.Schema<number> =>
  Schema.Number.pipe(
    Schema.filter(
      (n) => (Number.isInteger(n) || (options?.infinite === true && n === Infinity)) && n >= minimum,
      { message: (issue) => `expected a whole number of at least ${minimum}, got ${describeValue(issue.actual)}` }
    )
  )

const ProtocolVersionSchema = Schema.Literal(...ProtocolVersion.all)

const isCertifiedKey = (u: unknown): u is CertifiedKey =>
  Predicate.hasProperty(u, "chain") && Array.isArray(u.chain) && u.chain.length > 0 &&
  Predicate.hasProperty(u, "key") && Predicate.isObject(u.key)

const CertifiedKeySchema = Schema.declare(isCertifiedKey, {
  identifier: "CertifiedKey",
  message: () => "expected a CertifiedKey (a non-empty chain and its key, from CertifiedKey.make or fromPem)"
})

const Fn = (what: string) =>
  Schema.declare((u: unknown): u is (...args: ReadonlyArray<unknown>) => unknown => typeof u === "function", {
    message: () => `expected ${what} (a function)`
  })

const Database = Schema.declare(
  (u: unknown): u is object =>
    (Predicate.hasProperty(u, "verifyChain") && typeof u.verifyChain === "function") || Credentials.isTrust(u),
  { message: () => "expected a TlsDatabase (with verifyChain) or a Credentials.Trust" }
)

const ServerCertificate = Schema.declare(
  (u: unknown): u is object => isCertifiedKey(u) || Credentials.isCredentials(u),
  {
    identifier: "CertifiedKey",
    message: () => "expected a CertifiedKey (from CertifiedKey.make or fromPem) or Credentials (Credentials.make)"
  }
)

const AnyObject = (what: string) =>
  Schema.declare((u: unknown): u is object => Predicate.isObject(u), { message: () => `expected ${what}` })

const versionsInOrder = (options: {
  readonly minVersion?: ProtocolVersion.ProtocolVersion | undefined
  readonly maxVersion?: ProtocolVersion.ProtocolVersion | undefined
}): boolean | Schema.FilterIssue =>
  options.minVersion === undefined || options.maxVersion === undefined ||
  ProtocolVersion.compare(options.minVersion, options.maxVersion) <= 0 ||
  { path: ["maxVersion"], message: `maxVersion ${options.maxVersion} is older than minVersion ${options.minVersion}` }

const commonFields = {
  certificate: Schema.optional(CertifiedKeySchema),
  alpn: Schema.optional(AlpnProtocols),
  database: Schema.optional(Database),
  acceptCertificate: Schema.optional(Fn("an AcceptCertificate policy")),
  minVersion: Schema.optional(ProtocolVersionSchema),
  maxVersion: Schema.optional(ProtocolVersionSchema),
  ciphers: Schema.optional(Schema.String.pipe(Schema.filter((s) => s.trim().length > 0, {
    message: () => "expected a non-empty cipher list"
  }))),
  handshakeTimeout: Schema.optional(DurationInput),
  policyTimeout: Schema.optional(DurationInput),
  closeTimeout: Schema.optional(DurationInput),
  requireCloseNotify: Schema.optional(Schema.Boolean)
}

/**
 * The options both sides share (`TlsConnection.CommonOptions`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommonOptions = Schema.Struct(commonFields).pipe(Schema.filter(versionsInOrder))

/**
 * `TlsClient.ClientOptions`: the common options, `serverIdentity`, `serverName` (a host
 * name, never an IP address, or `false`), `resumeFrom`, `dangerouslySkipIdentityCheck`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ClientOptions = Schema.Struct({
  ...commonFields,
  serverIdentity: Schema.optional(Host),
  serverName: Schema.optional(Schema.Union(
    Host.pipe(Schema.filter((name) => !hostName.isIpAddress(name), {
      message: () => "SNI carries host names only, never an IP address (leave serverName out, or false)"
    })),
    Schema.Literal(false)
  )),
  resumeFrom: Schema.optional(AnyObject("a TlsConnection")),
  dangerouslySkipIdentityCheck: Schema.optional(Schema.Boolean)
}).pipe(Schema.filter(versionsInOrder))

/**
 * `TlsServer.ServerOptions`: the common options, `certificate` (a `CertifiedKey` or
 * `Credentials`), `sni`, `selectAlpn`, `ticketKeys`, `clientAuth` (`"none"`, `"requested"` or
 * `"required"`) and `clientCas`. (`TlsServer.make` also needs a `certificate` or `sni`.)
 *
 * @since 0.1.0
 * @category schemas
 */
export const ServerOptions = Schema.Struct({
  ...commonFields,
  certificate: Schema.optional(ServerCertificate),
  sni: Schema.optional(Schema.Struct({
    resolve: Fn("an SNI resolver"),
    timeout: Schema.optional(DurationInput),
    onUnknown: Schema.optional(Schema.Literal("default", "refuse"))
  })),
  selectAlpn: Schema.optional(Fn("an ALPN selector")),
  ticketKeys: Schema.optional(AnyObject("a TicketKeys service")),
  clientAuth: Schema.optional(Schema.Literal("none", "requested", "required")),
  clientCas: Schema.optional(Schema.Array(AnyObject("a Certificate")))
}).pipe(
  Schema.filter(versionsInOrder),
  Schema.filter((options) =>
    options.certificate !== undefined || options.sni !== undefined ||
    { path: ["certificate"], message: "a server needs a certificate (or sni to choose one per server name)" }
  )
)

const describeValue = (u: unknown): string => {
  if (typeof u === "string") return JSON.stringify(u.length > 40 ? `${u.slice(0, 40)}…` : u)
  if (typeof u === "bigint") return `${u}n`
  if (u === null || typeof u !== "object") return String(u)
  return Array.isArray(u) ? "an array" : "an object"
}

/**
 * Checks `input` against `schema` and fails with `TlsConfigError` (the first problem: its
 * field path and why) when it does not fit. `subject` names the options in the message
 * (e.g. `"TlsClient options"`). `undefined` stands for `{}`.
 *
 * @since 0.1.0
 * @category validation
 */
export const validate = <A, I>(
  schema: Schema.Schema<A, I, never>,
  subject: string,
  input: unknown
): Effect.Effect<A, TlsConfigError> =>
  Effect.mapError(
    Schema.decodeUnknown(schema, { errors: "first", onExcessProperty: "ignore" })(input ?? {}),
    (error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return new TlsConfigError({
        subject,
        path: issue?.path ?? [],
        detail: issue?.message ?? "invalid options",
        cause: error
      })
    }
  )

/**
 * `validate`, remembered per schema: an options object that passed and is unchanged, or a
 * fresh copy of the values of one of the last that passed (`{ ...options, host }` per
 * connection), passes without being decoded again. The schema stays the only judge; failures
 * are not kept.
 *
 * @example
 * ```ts
 * import { TlsOptions } from "@effect-tls/core"
 *
 * const options = { serverIdentity: "example.com" }
 * // decoded the first time, remembered after
 * const checked = TlsOptions.validateOnce(TlsOptions.ClientOptions, "TlsClient options", options)
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validateOnce = <A, I>(
  schema: Schema.Schema<A, I, never>,
  subject: string,
  input: object | undefined
): Effect.Effect<void, TlsConfigError> =>
  // (suspended: a decode runs as soon as its Effect is made, remembered or not)
  validated.remembered(schema, input, Effect.suspend(() => validate(schema, subject, input)))

/**
 * `validateOnce`, then `effect`: `effect` itself when `input` passed before (as
 * `validateOnce` remembers), so a connection whose options were checked already spends no
 * Effect step on them.
 *
 * @example
 * ```ts
 * import { TlsOptions } from "@effect-tls/core"
 * import { Effect } from "effect"
 *
 * const options = { serverIdentity: "example.com" }
 * const opened = TlsOptions.validateOnceThen(
 *   TlsOptions.ClientOptions,
 *   "TlsClient options",
 *   options,
 *   Effect.succeed("checked")
 * )
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const validateOnceThen = <A, I, B, E, R>(
  schema: Schema.Schema<A, I, never>,
  subject: string,
  input: object | undefined,
  effect: Effect.Effect<B, E, R>
): Effect.Effect<B, E | TlsConfigError, R> =>
  validated.isRemembered(schema, input) ? effect : Effect.zipRight(validateOnce(schema, subject, input), effect)
