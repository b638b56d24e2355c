/**
 * The certificates every end uses, from the testkit PKI: one root (P-256), a P-256 server
 * leaf and an RSA-2048 server leaf for `localhost`. The parent makes them once and sends
 * the PEM texts to both child processes, which load them for node:tls and for effect-tls.
 */
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import type { ClientOptions } from "@effect-tls/core/TlsClient"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import type { ServerOptions } from "@effect-tls/core/TlsServer"
import * as Transport from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as Effect from "effect/Effect"
import * as tls from "node:tls"

/** The one TLS 1.3 suite every side is forced to. */
export const CIPHER = "TLS_AES_128_GCM_SHA256"

export type KeyName = "p256" | "rsa"

export interface Pems {
  readonly caPem: string
  readonly leaves: Readonly<Record<KeyName, { readonly chainPem: string; readonly keyPem: string }>>
}

export const makePems: Effect.Effect<Pems, TestPki.TestPkiError | TlsConfigError> = Effect.gen(function*() {
  const pki = yield* TestPki.make()
  const p256 = yield* pki.issueServer({ keyType: "ec-p256" })
  const rsa = yield* pki.issueServer({ keyType: "rsa-2048", freshKey: true })
  return {
    caPem: pki.caPem,
    leaves: {
      p256: { chainPem: p256.chainPem, keyPem: p256.keyPem },
      rsa: { chainPem: rsa.chainPem, keyPem: rsa.keyPem }
    }
  }
})

const common = { ciphers: CIPHER, minVersion: "TLSv1.3", maxVersion: "TLSv1.3" } as const

/** What one end needs, loaded in the child process. */
export interface Material {
  readonly pems: Pems
  readonly rawClientContext: tls.SecureContext
  readonly rawServerContext: Readonly<Record<KeyName, tls.SecureContext>>
  /** effect-tls client options: the test root as the database, identity "localhost". */
  readonly clientOptions: ClientOptions
  readonly serverOptions: Readonly<Record<KeyName, ServerOptions>>
}

export const loadMaterial = (pems: Pems): Effect.Effect<Material, unknown> =>
  Effect.gen(function*() {
    const database = yield* TlsDatabase.fromPem(pems.caPem)
    const p256 = yield* CertifiedKey.fromPem(pems.leaves.p256.chainPem, pems.leaves.p256.keyPem)
    const rsa = yield* CertifiedKey.fromPem(pems.leaves.rsa.chainPem, pems.leaves.rsa.keyPem)
    const rawServer = (key: KeyName) =>
      tls.createSecureContext({ cert: pems.leaves[key].chainPem, key: pems.leaves[key].keyPem, ...common })
    return {
      pems,
      rawClientContext: tls.createSecureContext({ ca: pems.caPem, ...common }),
      rawServerContext: { p256: rawServer("p256"), rsa: rawServer("rsa") },
      clientOptions: { ...common, serverIdentity: "localhost", database },
      serverOptions: { p256: { ...common, certificate: p256 }, rsa: { ...common, certificate: rsa } }
    }
  })

/** Checks what a raw node:tls socket negotiated. */
export const checkRaw = (socket: tls.TLSSocket): void => {
  const cipher = socket.getCipher()
  if (cipher.standardName !== CIPHER || socket.getProtocol() !== "TLSv1.3") {
    throw new Error(`raw node:tls negotiated ${socket.getProtocol()} ${cipher.standardName}`)
  }
}

/** Checks what an effect-tls connection negotiated. */
export const checkSuite = (protocol: string, cipher: string): void => {
  if (cipher !== CIPHER || protocol !== "TLSv1.3") throw new Error(`effect-tls negotiated ${protocol} ${cipher}`)
}

/**
 * The same transport as a new object, whose socket no engine can take (`NodeTransport.takeSocket`
 * knows only the transports NodeTransport made): node:tls then runs over the engine's JS Duplex.
 */
export const bridged = (transport: Transport.Transport): Transport.Transport =>
  Transport.make({ ...transport, immediate: Transport.immediate(transport) })
