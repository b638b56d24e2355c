/**
 * Secure contexts: building one is costly (about 18 % of the handshake rate), so the backend
 * keeps one per distinct configuration. The server helper's SNI contexts and ticket keys hang
 * off the same cache (one context per certificate and settings).
 *
 * @internal
 */
import type * as Certificate from "@effect-tls/core/Certificate"
import * as PrivateKey from "@effect-tls/core/PrivateKey"
import type { EngineConfig, ServerConfig } from "@effect-tls/core/TlsBackend"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as tls from "node:tls"
import * as internals from "./nodeInternals.js"
import * as runtime from "./runtime.js"

const toPem = (der: Uint8Array, label: string): string => {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64")
  const lines = base64.match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

const certificatesPem = (certificates: ReadonlyArray<Certificate.Certificate>): Array<string> =>
  certificates.map((certificate) => toPem(certificate.der, "CERTIFICATE"))

/**
 * SecureContexts are costly (about 18 % of the handshake rate): one per distinct
 * (certificate, trusted anchors, settings), kept while the certificate lives. OpenSSL is always
 * given the database's anchors, the system store's included: node's own roots would miss what
 * `SSL_CERT_FILE` / `NODE_EXTRA_CA_CERTS` add, and both verdicts must agree.
 *
 * @internal
 */
export class SecureContextCache {
  private readonly noCertificate = {}
  private readonly cache = new WeakMap<object, Map<string, tls.SecureContext>>()
  private readonly trustKeys = new WeakMap<ReadonlyArray<Certificate.Certificate>, string>()
  /**
   * The inputs of the last look-up and its context (`secureContextFor`'s fast path; it keeps
   * that one certificate alive until a look-up with other inputs).
   */
  last:
    | {
      readonly certificate: object | undefined
      readonly anchors: ReadonlyArray<Certificate.Certificate>
      readonly server: boolean
      readonly minVersion: string
      readonly maxVersion: string | null
      readonly ciphers: string | null
      readonly ticketKey: Uint8Array | Keyring | undefined
      readonly context: tls.SecureContext
    }
    | undefined = undefined

  /** The trust list's identity by content, so equal lists made per connection share a context. */
  private trustKey(anchors: ReadonlyArray<Certificate.Certificate>): string {
    let key = this.trustKeys.get(anchors)
    if (key === undefined) {
      key = anchors.map((anchor) => anchor.fingerprintSha256).join(",")
      this.trustKeys.set(anchors, key)
    }
    return key
  }

  get(
    certificate: object | undefined,
    anchors: ReadonlyArray<Certificate.Certificate>,
    settings: string,
    create: (key: string) => tls.SecureContext
  ): tls.SecureContext {
    const owner = certificate ?? this.noCertificate
    let contexts = this.cache.get(owner)
    if (contexts === undefined) {
      contexts = new Map()
      this.cache.set(owner, contexts)
    }
    const key = `${settings}|${this.trustKey(anchors)}`
    let context = contexts.get(key)
    if (context === undefined) {
      context = create(key)
      contexts.set(key, context)
    }
    return context
  }
}

/**
 * A server context's session id context (OpenSSL's `sid_ctx`, at most 32 bytes): without one,
 * a server that asks for a client certificate fails every resumption attempt ("session id
 * context uninitialized"; node's own `tls.Server` sets one from `process.argv`). Derived from
 * the configuration, so a session made under one trust list is never resumed under another.
 * Server contexts only: a client checks a resumed session's against its own context's, so client
 * contexts keep the empty one and sessions move freely between them.
 */
const sessionIdContext = (
  certificate: { readonly chain: ReadonlyArray<Certificate.Certificate> } | undefined,
  key: string
) =>
  createHash("sha256")
    .update(`${certificate?.chain[0]?.fingerprintSha256 ?? ""}|${key}`)
    .digest("hex")
    .slice(0, 32)

const casBytes = new WeakMap<ReadonlyArray<Certificate.Certificate>, number>()

/**
 * The CAs a server's node:tls context gets as `ca`: what it trusts for a client's chain, and
 * whose names its CertificateRequest carries (node's `ca` does both). The `clientCas`, except
 * where node:tls would also send them after the server's chain (Deno: `runtime.serverSendsCaCertificates`):
 * none there when the server asks for no certificate, or when they are more than
 * `runtime.serverCaCertificatesBound` bytes (the system store's). node:tls's verdict on the
 * client's chain counts only when this is the database's anchors (`handshakeReport`).
 *
 * @internal
 */
export const serverContextCas = (config: ServerConfig): ReadonlyArray<Certificate.Certificate> => {
  if (!runtime.serverSendsCaCertificates) return config.clientCas
  if (config.clientAuth === "none") return []
  let bytes = casBytes.get(config.clientCas)
  if (bytes === undefined) {
    bytes = config.clientCas.reduce((sum, ca) => sum + ca.der.byteLength, 0)
    casBytes.set(config.clientCas, bytes)
  }
  return bytes <= runtime.serverCaCertificatesBound ? config.clientCas : []
}

const covering = new WeakMap<ReadonlyArray<Certificate.Certificate>, WeakMap<object, boolean>>()

/**
 * Why a server that requires a client certificate cannot be made here, if it cannot: where
 * node:tls refuses in the handshake a chain its `ca` does not verify
 * (`runtime.serverRefusesUnverifiedClients`, Bun), `clientCas` must name every anchor of the
 * database, else a certificate the database trusts would be refused. Checked once per
 * (`clientCas`, anchors).
 *
 * @internal
 */
export const unverifiableClientCas = (config: ServerConfig): string | undefined => {
  if (!runtime.serverRefusesUnverifiedClients || config.clientAuth !== "required") return undefined
  const anchors = config.database.anchors
  if (config.clientCas === anchors) return undefined
  let byAnchors = covering.get(config.clientCas)
  if (byAnchors === undefined) {
    byAnchors = new WeakMap()
    covering.set(config.clientCas, byAnchors)
  }
  let covered = byAnchors.get(anchors)
  if (covered === undefined) {
    const named = new Set(config.clientCas.map((ca) => ca.fingerprintSha256))
    covered = anchors.every((anchor) => named.has(anchor.fingerprintSha256))
    byAnchors.set(anchors, covered)
  }
  return covered
    ? undefined
    : runtime.lacks(
      "refuses in the handshake a client certificate its CAs do not verify: a server that requires one must name every anchor of its database in `clientCas`"
    )
}

/** @internal */
export const secureContextFor = (
  cache: SecureContextCache,
  config: EngineConfig,
  /** What OpenSSL trusts, and (server) whose subjects it sends as acceptable client CAs. */
  anchors: ReadonlyArray<Certificate.Certificate>
): tls.SecureContext => {
  // (a ticket key is told apart by its name, the public first 16 bytes, never by its secret; keys
  // read per ticket by their reader's identity, one per TicketKeys service)
  const { ticketKeyring, ticketKeys } = config as Partial<ServerConfig>
  const ticketKeyBytes = ticketKeyring !== undefined
    ? ticketKeyring
    : ticketKeys === undefined || Option.isNone(ticketKeys)
    ? undefined
    : Redacted.value(ticketKeys.value)
  const server = "clientAuth" in config
  // the same inputs as the last connection's (every connection of a server, as a rule): its
  // context, without building the settings' key again
  const certificate = Option.getOrUndefined(config.certificate)
  const maxVersion = Option.getOrNull(config.maxVersion)
  const ciphers = Option.getOrNull(config.ciphers)
  const last = cache.last
  if (
    last !== undefined && last.certificate === certificate && last.anchors === anchors &&
    last.server === server && last.minVersion === config.minVersion && last.maxVersion === maxVersion &&
    last.ciphers === ciphers && last.ticketKey === ticketKeyBytes
  ) return last.context
  const context = lookUp(cache, config, anchors, server, ticketKeyBytes)
  cache.last = {
    certificate,
    anchors,
    server,
    minVersion: config.minVersion,
    maxVersion,
    ciphers,
    ticketKey: ticketKeyBytes,
    context
  }
  return context
}

const lookUp = (
  cache: SecureContextCache,
  config: EngineConfig,
  anchors: ReadonlyArray<Certificate.Certificate>,
  server: boolean,
  ticketKeyBytes: Uint8Array | Keyring | undefined
): tls.SecureContext => {
  // (Bun, Deno: TLS 1.3 suites in `ciphers` would be ignored)
  const unhonoured = Option.isSome(config.ciphers)
    ? runtime.unhonouredCiphers(config.ciphers.value, Option.getOrUndefined(config.maxVersion), config.minVersion)
    : undefined
  if (unhonoured !== undefined) throw new Error(unhonoured)
  const settings = JSON.stringify([
    server,
    config.minVersion,
    Option.getOrNull(config.maxVersion),
    Option.getOrNull(config.ciphers),
    ticketKeyBytes === undefined
      ? null
      : typeof ticketKeyBytes === "function"
      ? `keyring ${keyringId(ticketKeyBytes)}`
      : Buffer.from(ticketKeyBytes.subarray(0, 16)).toString("hex")
  ])
  const certificate = Option.getOrUndefined(config.certificate)
  return cache.get(certificate, anchors, settings, (key) => {
    const context = tls.createSecureContext({
      ...(server ? { sessionIdContext: sessionIdContext(certificate, key) } : {}),
      minVersion: config.minVersion as tls.SecureVersion,
      ...(Option.isSome(config.maxVersion) ? { maxVersion: config.maxVersion.value as tls.SecureVersion } : {}),
      ...(Option.isSome(config.ciphers) ? { ciphers: config.ciphers.value } : {}),
      ...(certificate !== undefined
        ? {
          cert: certificatesPem(certificate.chain).join(""),
          key: Redacted.value(PrivateKey.toPem(certificate.key))
        }
        : {}),
      ca: certificatesPem(anchors),
      ...(ticketKeyBytes instanceof Uint8Array ? { ticketKeys: Buffer.from(ticketKeyBytes) } : {})
    })
    if (typeof ticketKeyBytes === "function") internals.chooseTicketKeys(context, ringBytes(ticketKeyBytes))
    return context
  })
}

type Keyring = NonNullable<ServerConfig["ticketKeyring"]>

const keyringIds = new WeakMap<Keyring, number>()
let nextKeyringId = 0

/** A keyring's name in the settings' key (one secure context per keyring). */
const keyringId = (ring: Keyring): number => {
  let id = keyringIds.get(ring)
  if (id === undefined) {
    id = nextKeyringId++
    keyringIds.set(ring, id)
  }
  return id
}

/** The keyring's keys as `nodeInternals.chooseTicketKeys` reads them, on each ticket. */
const ringBytes = (ring: Keyring) => (): internals.TicketKeyring => {
  const keys = ring()
  return {
    current: Redacted.value(keys.current),
    previous: Option.isSome(keys.previous) ? Redacted.value(keys.previous.value) : undefined
  }
}
