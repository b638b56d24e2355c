/**
 * The test PKI: authorities, issuing, CRLs.
 *
 * @internal
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import * as PrivateKey from "@effect-tls/core/PrivateKey"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import type * as X509 from "@peculiar/asn1-x509"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as TestPki from "../../TestPki.js"
import { TestPkiError } from "../../TestPki.js"
import * as Keys from "./keys.js"
import * as Der from "./x509.js"

const commonFields = {
  commonName: Schema.optional(Schema.String),
  organization: Schema.optional(Schema.String),
  now: Schema.optional(Schema.ValidDateFromSelf),
  validity: Schema.optional(Schema.Literal("valid", "expired", "notYetValid")),
  notBefore: Schema.optional(Schema.ValidDateFromSelf),
  notAfter: Schema.optional(Schema.ValidDateFromSelf),
  keyType: Schema.optional(Schema.Literal("ec-p256", "ec-p384", "rsa-1024", "rsa-2048", "rsa-3072", "ed25519")),
  signatureHash: Schema.optional(Schema.Literal("sha1", "sha256", "sha384", "sha512")),
  rsaPss: Schema.optional(Schema.Boolean),
  serial: Schema.optional(Schema.BigIntFromSelf.pipe(Schema.filter((n) => n > 0n, {
    message: () => "a serial number is positive"
  })))
}

const IssueOptionsSchema = Schema.Struct({
  ...commonFields,
  dnsNames: Schema.optional(Schema.Array(Schema.String)),
  ipAddresses: Schema.optional(Schema.Array(Schema.String.pipe(Schema.filter((ip) => Net.isIP(ip) !== 0, {
    message: (issue) => `expected an IPv4 or IPv6 address, got ${JSON.stringify(issue.actual)}`
  })))),
  selfSigned: Schema.optional(Schema.Boolean),
  freshKey: Schema.optional(Schema.Boolean)
})

const AuthorityOptionsSchema = Schema.Struct({
  ...commonFields,
  pathLength: Schema.optional(TlsOptions.Count(0)),
  isCa: Schema.optional(Schema.Union(Schema.Boolean, Schema.Literal("omit")))
})

/** Checks TestPki options: `TlsConfigError` (the field and why) for a bad one. */
const checked = <A, E, R>(
  schema: Schema.Schema<any, any, never>,
  subject: string,
  options: unknown,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | TlsConfigError, R> => Effect.zipRight(TlsOptions.validate(schema, subject, options), effect)

const HOUR = 3_600_000
const DAY = 24 * HOUR

const ekuOids: Record<string, string> = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
  any: "2.5.29.37.0"
}

/** Shared by a root and every authority below it. */
interface Context {
  /** One leaf key per key type, generated on first use. */
  readonly leafKey: (type: Keys.KeyType) => Effect.Effect<Keys.KeyPair, TestPkiError>
  readonly root: TestPki.Issued
}

/** What an authority needs to sign. */
interface Signer {
  readonly name: X509.Name
  readonly key: Keys.KeyPair
  readonly keyId: Uint8Array
  /** DER of the certificates to send after a certificate issued by this signer (up to the root, excluded). */
  readonly chainDer: ReadonlyArray<Uint8Array>
  readonly now: Date
}

const generate = (type: Keys.KeyType): Effect.Effect<Keys.KeyPair, TestPkiError> =>
  Keys.generate(type).pipe(
    Effect.mapError((cause) =>
      new TestPkiError({ reason: "KeyGeneration", detail: `${type}: ${cause.message}`, cause })
    )
  )

const encode = <A>(what: string, f: () => A): Effect.Effect<A, TestPkiError> =>
  Effect.try({
    try: f,
    catch: (cause) =>
      new TestPkiError({
        reason: "Encoding",
        detail: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  })

const randomLabel = () => Math.random().toString(36).slice(2, 8)

const validityOf = (
  options: TestPki.CommonOptions,
  now: Date,
  defaultDays: number
): { readonly notBefore: Date; readonly notAfter: Date } => {
  const t = now.getTime()
  let notBefore: number
  let notAfter: number
  switch (options.validity ?? "valid") {
    case "expired":
      notBefore = t - 30 * DAY
      notAfter = t - DAY
      break
    case "notYetValid":
      notBefore = t + DAY
      notAfter = t + 30 * DAY
      break
    default:
      notBefore = t - HOUR
      notAfter = t + defaultDays * DAY
  }
  return {
    notBefore: options.notBefore ?? new Date(notBefore),
    notAfter: options.notAfter ?? new Date(notAfter)
  }
}

const subjectName = (options: TestPki.CommonOptions, defaultCn: string): X509.Name => {
  if (options.subjectAttributes !== undefined) return Der.makeName(options.subjectAttributes)
  const attributes: Array<readonly [string, string]> = []
  attributes.push(["O", options.organization ?? "effect-tls testkit"])
  attributes.push(["CN", options.commonName ?? defaultCn])
  return Der.makeName(attributes)
}

const serialOf = (options: TestPki.CommonOptions) =>
  options.serial === undefined ? Der.randomSerial() : Der.serialBytes(options.serial)

const spec = (options: TestPki.CommonOptions | TestPki.CrlOptions): Keys.SignatureSpec => ({
  hash: options.signatureHash ?? "sha256",
  pss: options.rsaPss ?? false
})

const parseError = (cause: unknown) =>
  new TestPkiError({
    reason: "Parse",
    detail: `core could not parse a generated certificate or key: ${
      cause instanceof Error ? cause.message : String(cause)
    }`,
    cause
  })

/** Wraps DER material into an `Issued`, parsing it with core. */
const toIssued = (
  der: Uint8Array,
  chainDer: ReadonlyArray<Uint8Array>,
  key: Keys.KeyPair,
  serial: Uint8Array,
  validity: { readonly notBefore: Date; readonly notAfter: Date }
): Effect.Effect<TestPki.Issued, TestPkiError> => {
  const pem = Der.toPem("CERTIFICATE", der)
  const chainPem = pem + chainDer.map((d) => Der.toPem("CERTIFICATE", d)).join("")
  return Effect.gen(function*() {
    const chain = yield* Certificate.fromPem(chainPem)
    const privateKey = yield* PrivateKey.fromPem(key.privatePem)
    return {
      certificate: chain[0],
      chain,
      key: privateKey,
      certifiedKey: CertifiedKey.unsafeMake(chain, privateKey),
      der,
      pem,
      chainPem,
      keyPem: key.privatePem,
      privateKey: key.privateKey,
      serialNumber: Der.serialHex(serial),
      notBefore: validity.notBefore,
      notAfter: validity.notAfter
    }
  }).pipe(
    // the core parser is a separate component: a defect there (e.g. not yet implemented) is reported, typed
    Effect.catchAllDefect((cause) => Effect.fail(parseError(cause))),
    Effect.mapError((cause) => cause instanceof TestPkiError ? cause : parseError(cause))
  )
}

const caKeyUsage = (options: TestPki.CommonOptions): ReadonlyArray<TestPki.KeyUsage> | "none" =>
  options.keyUsage ?? ["digitalSignature", "keyCertSign", "cRLSign"]

const extensionsOf = (
  options: TestPki.CommonOptions,
  basicConstraints: X509.Extension | undefined,
  keyUsage: ReadonlyArray<TestPki.KeyUsage> | "none",
  extendedKeyUsage: ReadonlyArray<TestPki.ExtendedKeyUsage> | "none",
  san: X509.Extension | undefined,
  subjectKeyId: Uint8Array,
  authorityKeyId: Uint8Array
): Array<X509.Extension> => {
  const out: Array<X509.Extension> = []
  if (basicConstraints) out.push(basicConstraints)
  if (keyUsage !== "none") out.push(Der.extensions.keyUsage(keyUsage))
  if (extendedKeyUsage !== "none") {
    out.push(Der.extensions.extendedKeyUsage(extendedKeyUsage.map((eku) => ekuOids[eku] ?? eku)))
  }
  if (san) out.push(san)
  out.push(Der.extensions.subjectKeyIdentifier(subjectKeyId))
  out.push(Der.extensions.authorityKeyIdentifier(authorityKeyId))
  for (const extra of options.extraExtensions ?? []) {
    out.push(Der.extensions.raw(extra.oid, extra.critical ?? false, extra.value))
  }
  return out
}

interface LeafDefaults {
  /** "" takes the first SAN (or "leaf"). */
  readonly commonName: string
  readonly extendedKeyUsage: ReadonlyArray<TestPki.ExtendedKeyUsage>
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
}

/** `issue`, `issueServer` and `issueClient`: one leaf issuer, three sets of defaults. */
const leafProfiles = {
  issue: { commonName: "", extendedKeyUsage: ["serverAuth", "clientAuth"], dnsNames: [], ipAddresses: [] },
  issueServer: {
    commonName: "",
    extendedKeyUsage: ["serverAuth"],
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1", "::1"]
  },
  issueClient: { commonName: "client", extendedKeyUsage: ["clientAuth"], dnsNames: [], ipAddresses: [] }
} as const satisfies Record<string, LeafDefaults>

const issueLeaf = (
  context: Context,
  signer: Signer,
  options: TestPki.IssueOptions,
  defaults: LeafDefaults
): Effect.Effect<TestPki.Issued, TestPkiError> =>
  Effect.gen(function*() {
    const keyType = options.keyType ?? "ec-p256"
    const selfSigned = options.selfSigned ?? false
    const key = selfSigned || options.freshKey ? yield* generate(keyType) : yield* context.leafKey(keyType)
    const now = options.now ?? signer.now
    const validity = validityOf(options, now, 90)
    const dnsNames = options.dnsNames ?? (options.ipAddresses === undefined ? defaults.dnsNames : [])
    const ipAddresses = options.ipAddresses ?? (options.dnsNames === undefined ? defaults.ipAddresses : [])
    const commonName = defaults.commonName !== "" ? defaults.commonName : (dnsNames[0] ?? ipAddresses[0] ?? "leaf")
    const subject = subjectName(options, commonName)
    const keyId = Der.keyIdentifier(key.spki)
    const serial = serialOf(options)
    const bc = options.basicConstraints ?? { isCa: false }
    const der = yield* encode("certificate", () =>
      Der.buildCertificate({
        serial,
        subject,
        issuer: options.issuerAttributes !== undefined
          ? Der.makeName(options.issuerAttributes)
          : selfSigned
          ? subject
          : signer.name,
        ...validity,
        subjectKey: key,
        issuerKey: selfSigned ? key : signer.key,
        signature: spec(options),
        extensions: extensionsOf(
          options,
          bc === "none" ? undefined : Der.extensions.basicConstraints(bc.isCa, bc.pathLength, bc.critical ?? true),
          options.keyUsage ??
            (Keys.isRsa(keyType) ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]),
          options.extendedKeyUsage ?? defaults.extendedKeyUsage,
          dnsNames.length + ipAddresses.length > 0
            ? Der.extensions.subjectAltName(dnsNames, ipAddresses)
            : undefined,
          keyId,
          selfSigned ? keyId : signer.keyId
        )
      }))
    return yield* toIssued(der, selfSigned ? [] : signer.chainDer, key, serial, validity)
  })

const makeAuthority = (
  context: Context,
  signer: Signer,
  self: TestPki.Issued
): Effect.Effect<TestPki.Authority> =>
  Effect.map(Ref.make(0), (crlCounter) => {
    const databaseWith: TestPki.Authority["databaseWith"] = (options) =>
      makeDatabase(
        [context.root.certificate],
        (options.intermediates ?? []).map((c) => "certificate" in c && "der" in c && "pem" in c ? c.certificate : c),
        options.crls ?? []
      )
    let database: TlsDatabase.TlsDatabaseShape | undefined
    const leaf = (profile: keyof typeof leafProfiles) => (options: TestPki.IssueOptions = {}) =>
      checked(
        IssueOptionsSchema,
        `TestPki.${profile} options`,
        options,
        issueLeaf(context, signer, options, {
          ...leafProfiles[profile],
          commonName: options.commonName ?? leafProfiles[profile].commonName
        })
      )
    const authority: TestPki.Authority = {
      ca: self,
      root: context.root,
      caPem: context.root.pem,
      now: signer.now,
      get database() {
        // built on first use: generating never depends on the verifier
        return database ??= databaseWith({})
      },
      databaseWith,
      issue: leaf("issue"),
      issueServer: leaf("issueServer"),
      issueClient: leaf("issueClient"),
      intermediate: (options = {}) =>
        checked(
          AuthorityOptionsSchema,
          "TestPki.intermediate options",
          options,
          issueAuthority(context, signer, options)
        ),
      crl: (options = {}) =>
        Effect.gen(function*() {
          const number = options.number ?? (yield* Ref.updateAndGet(crlCounter, (n) => n + 1))
          const thisUpdate = options.thisUpdate ?? new Date(signer.now.getTime() - 60_000)
          const nextUpdate = options.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY)
          const serialOfEntry = (entry: TestPki.Issued | bigint) =>
            typeof entry === "bigint" ? Der.serialBytes(entry) : hexBytes(entry.serialNumber)
          const revoked = (options.revoked ?? []).map((entry) =>
            typeof entry === "object" && "serial" in entry && !("certificate" in entry)
              ? {
                serial: serialOfEntry(entry.serial),
                date: options.revocationDate ?? thisUpdate,
                extensions: (entry.extensions ?? []).map((e) => Der.extensions.raw(e.oid, e.critical ?? false, e.value))
              }
              : { serial: serialOfEntry(entry as TestPki.Issued | bigint), date: options.revocationDate ?? thisUpdate }
          )
          const der = yield* encode("CRL", () =>
            Der.buildCrl({
              issuer: signer.name,
              issuerKey: signer.key,
              authorityKeyId: signer.keyId,
              signature: spec(options),
              thisUpdate,
              nextUpdate,
              number,
              revoked,
              extensions: (options.extensions ?? []).map((e) => Der.extensions.raw(e.oid, e.critical ?? false, e.value))
            }))
          return {
            der,
            pem: Der.toPem("X509 CRL", der),
            number,
            thisUpdate,
            nextUpdate,
            revokedSerials: revoked.map((entry) => Der.serialHex(entry.serial))
          }
        })
    }
    return authority
  })

const hexBytes = (hex: string): Uint8Array => {
  const padded = hex.length % 2 ? "0" + hex : hex
  const bytes = Buffer.from(padded, "hex")
  // keep the INTEGER positive
  return new Uint8Array(bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

const caCertificate = (
  signer: Signer | undefined,
  options: TestPki.AuthorityOptions,
  defaultCn: string
): Effect.Effect<{ readonly issued: TestPki.Issued; readonly signer: Signer }, TestPkiError> =>
  Effect.gen(function*() {
    const key = yield* generate(options.keyType ?? "ec-p256")
    // the Clock's now (TestClock under `it.effect`), so that verification on that Clock agrees
    const now = options.now ?? signer?.now ?? new Date(yield* Clock.currentTimeMillis)
    const validity = validityOf(options, now, 3650)
    const subject = subjectName(options, defaultCn)
    const keyId = Der.keyIdentifier(key.spki)
    const serial = serialOf(options)
    const isCa = options.isCa ?? true
    const der = yield* encode("CA certificate", () =>
      Der.buildCertificate({
        serial,
        subject,
        issuer: options.issuerAttributes !== undefined
          ? Der.makeName(options.issuerAttributes)
          : signer?.name ?? subject,
        ...validity,
        subjectKey: key,
        issuerKey: signer?.key ?? key,
        signature: spec(options),
        extensions: extensionsOf(
          options,
          isCa === "omit" ? undefined : Der.extensions.basicConstraints(isCa, options.pathLength),
          caKeyUsage(options),
          options.extendedKeyUsage ?? "none",
          undefined,
          keyId,
          signer?.keyId ?? keyId
        )
      }))
    const chainDer = signer ? [der, ...signer.chainDer] : []
    const issued = yield* toIssued(der, signer ? signer.chainDer : [], key, serial, validity)
    return { issued, signer: { name: subject, key, keyId, chainDer, now } }
  })

const issueAuthority = (
  context: Context,
  parent: Signer,
  options: TestPki.AuthorityOptions
): Effect.Effect<TestPki.Authority, TestPkiError> =>
  Effect.flatMap(
    caCertificate(parent, options, `effect-tls Test Intermediate ${randomLabel()}`),
    ({ issued, signer }) => makeAuthority(context, signer, issued)
  )

/** @internal */
export const make = (
  options: TestPki.MakeOptions = {}
): Effect.Effect<TestPki.Authority, TestPkiError | TlsConfigError> =>
  checked(AuthorityOptionsSchema, "TestPki.make options", options, makeUnchecked(options))

const makeUnchecked = (options: TestPki.MakeOptions): Effect.Effect<TestPki.Authority, TestPkiError> =>
  Effect.gen(function*() {
    const { issued, signer } = yield* caCertificate(undefined, options, `effect-tls Test Root ${randomLabel()}`)
    const leafKey = yield* Effect.cachedFunction(generate)
    return yield* makeAuthority({ leafKey, root: issued }, signer, issued)
  })

const makeDatabase = (
  anchors: ReadonlyArray<Certificate.Certificate>,
  intermediates: ReadonlyArray<Certificate.Certificate>,
  crls: ReadonlyArray<TestPki.Crl>
): TlsDatabase.TlsDatabaseShape => TlsDatabase.fromAnchors(anchors, { intermediates, crls: crls.map((crl) => crl.der) })

/** @internal */
export const makeFixture = (
  options: TestPki.MakeOptions = {}
): Effect.Effect<TestPki.Fixture, TestPkiError | TlsConfigError> =>
  Effect.gen(function*() {
    const pki = yield* make(options)
    const [server, client] = yield* Effect.all([pki.issueServer(), pki.issueClient()])
    return {
      pki,
      server,
      client,
      caPem: pki.caPem,
      serverPem: server.chainPem,
      keyPem: server.keyPem,
      clientPem: client.chainPem,
      clientKeyPem: client.keyPem
    }
  })

/** @internal */
export const writeFiles = (
  issued: TestPki.Issued,
  authority: TestPki.Authority
): Effect.Effect<TestPki.PemFiles, TestPkiError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-tls-pki-"))
        const files = {
          directory,
          caFile: Path.join(directory, "ca.pem"),
          certFile: Path.join(directory, "cert.pem"),
          chainFile: Path.join(directory, "chain.pem"),
          keyFile: Path.join(directory, "key.pem")
        }
        await Fs.writeFile(files.caFile, authority.caPem)
        await Fs.writeFile(files.certFile, issued.pem)
        await Fs.writeFile(files.chainFile, issued.chainPem)
        await Fs.writeFile(files.keyFile, issued.keyPem, { mode: 0o600 })
        return files
      },
      catch: (cause) => new TestPkiError({ reason: "Io", detail: "cannot write the PEM files", cause })
    }),
    (files) => Effect.promise(() => Fs.rm(files.directory, { recursive: true, force: true }))
  )
