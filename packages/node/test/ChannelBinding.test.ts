/**
 * Channel binding (`conn.channelBinding`): real handshakes over the memory pair (both ends
 * agree, values differ per connection, the RFC 5929 hash choice, typed errors), and interop
 * with `gnutls-cli -V`, which prints GnuTLS's own tls-unique, tls-server-end-point and
 * tls-exporter for the connection it made to our server.
 */
import type * as Certificate from "@effect-tls/core/Certificate"
import * as ChannelBinding from "@effect-tls/core/ChannelBinding"
import type { HandshakeInfo } from "@effect-tls/core/HandshakeInfo"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsError from "@effect-tls/core/TlsError"
import * as TestPki from "@effect-tls/testkit/TestPki"
import * as TestTls from "@effect-tls/testkit/TestTls"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeCrypto from "node:crypto"
import { sessionHasExtendedMasterSecret } from "../src/internal/sessions.js"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as OurServer from "./interop/ourServer.js"
import * as Peers from "./interop/peers.js"

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const digest = (algorithm: string, certificate: Certificate.Certificate) =>
  NodeCrypto.createHash(algorithm).update(certificate.der).digest("hex")

const versions = ["TLSv1.3", "TLSv1.2"] as const satisfies ReadonlyArray<ProtocolVersion>

/**
 * Deno 2.9's node:tls has no exportKeyingMaterial and its getFinished() is not the Finished (the
 * README's support matrix): there the bindings it cannot give fail with these reasons, on both
 * sides (TLS 1.2's tls-exporter: NotImplemented, the extended master secret unknown to us).
 */
const onDeno = typeof (globalThis as any).Deno === "object"
const denoLacks = (version: ProtocolVersion) => ({
  "tls-unique": Either.left<ChannelBinding.Reason>(version === "TLSv1.2" ? "NotAvailable" : "NotSupported"),
  "tls-exporter": Either.left<ChannelBinding.Reason>(version === "TLSv1.2" ? "NotImplemented" : "NotAvailable")
})

/** Every type's value as hex, or the error's reason. */
const allBindings = (conn: TlsConnection) =>
  Effect.all(
    Object.fromEntries(
      ChannelBinding.types.map((type) => [
        type,
        Effect.either(Effect.map(conn.channelBinding(type), hex)).pipe(
          Effect.map(Either.mapLeft((error) => error.reason))
        )
      ])
    ) as Record<ChannelBinding.ChannelBindingType, Effect.Effect<Either.Either<string, ChannelBinding.Reason>>>
  )

/** A handshaken pair over the memory transport, both sides limited to `version`. */
const pair = (version: ProtocolVersion, options: TestTls.PairOptions = {}) =>
  TestTls.makePair({
    ...options,
    client: { minVersion: version, maxVersion: version, ...options.client },
    server: { minVersion: version, maxVersion: version, ...options.server }
  })

const env = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

layer(env, { excludeTestServices: true, timeout: 30_000 })("channel binding over the memory pair", (it) => {
  for (const version of versions) {
    it.scoped(`${version}: client and server compute the same value for every type`, () =>
      Effect.gen(function*() {
        const { client, fixture, server } = yield* pair(version)
        const ours = yield* allBindings(client)
        const theirs = yield* allBindings(server)
        assert.deepStrictEqual(ours, theirs)
        if (onDeno) {
          assert.deepStrictEqual(ours, {
            ...denoLacks(version),
            "tls-server-end-point": Either.right(digest("sha256", fixture.server.certificate))
          })
          return
        }

        if (version === "TLSv1.2") {
          // the client's Finished verify_data: 12 bytes
          assert.strictEqual(Either.getOrThrow(ours["tls-unique"]).length, 24)
        } else {
          assert.deepStrictEqual(ours["tls-unique"], Either.left("NotSupported"))
        }
        // the fixture's leaf is signed with ECDSA-SHA256
        assert.strictEqual(fixture.server.certificate.signatureAlgorithm, "ecdsa-with-SHA256")
        assert.deepStrictEqual(ours["tls-server-end-point"], Either.right(digest("sha256", fixture.server.certificate)))
        // RFC 9266: the exporter with a zero-length context, 32 bytes
        const exporter = Either.getOrThrow(ours["tls-exporter"])
        assert.strictEqual(exporter.length, 64)
        assert.strictEqual(
          exporter,
          hex(yield* client.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", new Uint8Array(0)))
        )
      }))

    it.scoped(`${version}: another connection, other tls-unique and tls-exporter, same tls-server-end-point`, () =>
      Effect.gen(function*() {
        const first = yield* allBindings((yield* pair(version)).client)
        const second = yield* allBindings((yield* pair(version)).server)
        assert.deepStrictEqual(second["tls-server-end-point"], first["tls-server-end-point"])
        if (onDeno) {
          assert.deepStrictEqual({ ...first, "tls-server-end-point": undefined }, {
            ...denoLacks(version),
            "tls-server-end-point": undefined
          })
          return
        }
        assert.notDeepEqual(second["tls-exporter"], first["tls-exporter"])
        assert.isTrue(Either.isRight(first["tls-exporter"]))
        if (version === "TLSv1.2") {
          assert.isTrue(Either.isRight(first["tls-unique"]))
          assert.notDeepEqual(second["tls-unique"], first["tls-unique"])
        }
      }))
  }

  it.scoped("TLSv1.3: tls-unique is a NotSupported ChannelBindingError on both sides", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair("TLSv1.3")
      for (const conn of [client, server]) {
        const error = yield* Effect.flip(conn.channelBinding("tls-unique"))
        assert.isTrue(ChannelBinding.isChannelBindingError(error))
        assert.strictEqual(error._tag, "ChannelBindingError")
        assert.strictEqual(error.reason, "NotSupported")
        assert.strictEqual(error.type, "tls-unique")
        assert.strictEqual(error.side, conn.side)
        assert.include(error.message, "tls-unique channel binding NotSupported")
      }
    }))

  it.scoped("channelBinding runs the handshake itself, as read does", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair("TLSv1.2", { handshake: false })
      // (Deno has no tls-unique)
      const type = onDeno ? "tls-server-end-point" : "tls-unique"
      const [ours, theirs] = yield* Effect.all(
        [client.channelBinding(type), server.channelBinding(type)],
        { concurrency: 2 }
      )
      assert.strictEqual(hex(ours), hex(theirs))
      assert.isTrue((yield* client.info)._tag === "Some")
    }))

  it.scoped("a failed handshake (client): InvalidState, with the handshake's TlsError as cause, for every type", () =>
    Effect.gen(function*() {
      // the client expects another host name: it refuses the server's certificate
      const { client, server } = yield* pair("TLSv1.3", { client: { serverIdentity: "example.com" }, handshake: false })
      yield* Effect.fork(server.handshake)
      for (const type of ChannelBinding.types) {
        const error = yield* Effect.flip(client.channelBinding(type))
        assert.strictEqual(error.reason, "InvalidState")
        assert.strictEqual(error.type, type)
        assert.isTrue(TlsError.isTlsError(error.cause))
        assert.strictEqual((error.cause as TlsError.TlsError)._tag, "TlsBadCertificateError")
        assert.include(error.message, "BadCertificate")
      }
      assert.isTrue(Exit.isFailure(yield* Effect.exit(client.handshake)))
    }))

  it.scoped("a failed handshake (server, client certificate required but none sent): InvalidState", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair("TLSv1.2", { server: { clientAuth: "required" }, handshake: false })
      yield* Effect.fork(Effect.exit(client.handshake))
      for (const type of ChannelBinding.types) {
        const error = yield* Effect.flip(server.channelBinding(type))
        assert.strictEqual(error.reason, "InvalidState")
        assert.strictEqual(error.side, "server")
        assert.strictEqual((error.cause as TlsError.TlsError)._tag, "TlsCertificateRequiredError")
      }
    }))

  describe("tls-server-end-point: the hash follows the certificate's signature algorithm (RFC 5929 §4.1)", () => {
    // the CA's key type, the leaf's issue options, its signature algorithm, the binding's hash
    const cases: ReadonlyArray<readonly [string, TestPki.KeyType, TestPki.IssueOptions, string, string]> = [
      ["ECDSA-SHA1: SHA-256", "ec-p256", { signatureHash: "sha1" }, "ecdsa-with-SHA1", "sha256"],
      ["RSA-SHA1: SHA-256", "rsa-2048", { signatureHash: "sha1" }, "sha1WithRSAEncryption", "sha256"],
      ["ECDSA-SHA384: SHA-384", "ec-p256", { signatureHash: "sha384" }, "ecdsa-with-SHA384", "sha384"],
      ["RSA-SHA512: SHA-512", "rsa-2048", { signatureHash: "sha512" }, "sha512WithRSAEncryption", "sha512"],
      [
        "RSA-PSS with SHA-384: the PSS hash, SHA-384",
        "rsa-2048",
        { signatureHash: "sha384", rsaPss: true },
        "rsassaPss",
        "sha384"
      ],
      ["Ed25519: SHA-512, as GnuTLS and OpenSSL", "ed25519", {}, "Ed25519", "sha512"]
    ]
    for (const [name, keyType, issue, signatureAlgorithm, hash] of cases) {
      it.scoped(name, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make({ keyType })
          const issued = yield* pki.issueServer(issue)
          assert.strictEqual(issued.certificate.signatureAlgorithm, signatureAlgorithm)
          const expected = digest(hash, issued.certificate)
          assert.strictEqual(hex(yield* ChannelBinding.serverEndPoint(issued.certificate)), expected)
        }))
    }

    it.scoped("through a handshake: both sides hash the server's leaf (Ed25519-signed: SHA-512)", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ keyType: "ed25519" })
        const issued = yield* pki.issueServer()
        const { client, server } = yield* pair("TLSv1.3", {
          client: { database: pki.database },
          server: { certificate: issued.certifiedKey }
        })
        const expected = digest("sha512", issued.certificate)
        assert.strictEqual(hex(yield* client.channelBinding("tls-server-end-point")), expected)
        assert.strictEqual(hex(yield* server.channelBinding("tls-server-end-point")), expected)
      }))
  })
})

interface Served {
  readonly info: Exit.Exit<HandshakeInfo, TlsError.TlsError>
  readonly bindings: Record<ChannelBinding.ChannelBindingType, Either.Either<string, ChannelBinding.Reason>>
}

/**
 * Our server behind `NodeTransport.listen` on 127.0.0.1: after the handshake it computes every
 * binding, then reads until the peer's close_notify and answers with its own.
 */
const ourServer = OurServer.ourServer<Served>({}, (conn, report) =>
  Effect.gen(function*() {
    const info = yield* Effect.exit(conn.handshake)
    yield* report({ info, bindings: yield* allBindings(conn) })
    yield* Effect.ignore(Stream.runDrain(conn.stream))
    yield* Effect.ignore(conn.closeWrite)
  }))

/** gnutls-cli's `- 'type': value` lines, in order, `undefined` for "not available". */
const gnutlsBindings = (output: string) =>
  Array.from(
    output.matchAll(/^ - '(tls-unique|tls-server-end-point|tls-exporter)': (\S.*)$/gm),
    ([, type, value]) => ({
      type: type as ChannelBinding.ChannelBindingType,
      value: /^[0-9a-f]+$/.test(value!) ? value : undefined
    })
  )

/** gnutls's lines for one connection, by type. */
const byType = (lines: ReadonlyArray<{ type: ChannelBinding.ChannelBindingType; value: string | undefined }>) =>
  Object.fromEntries(lines.map(({ type, value }) => [type, value]))

const ourValues = (served: Served) =>
  Object.fromEntries(
    ChannelBinding.types.map((type) => [type, Either.getOrUndefined(served.bindings[type])])
  )

/**
 * gnutls-cli -V (verifying against the test CA, with `priority` and `extra` arguments) to our
 * server, until `completed` appears; it then ends its input and must exit 0. Its output, and
 * our server's view of each connection.
 */
const gnutlsToOurs = (
  priority: string,
  extra: ReadonlyArray<string> = [],
  completed: RegExp = /- Handshake was completed/
) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const files = yield* TestPki.writeFiles(fixture.server, fixture.pki)
    const ours = yield* ourServer
    const cli = yield* Peers.gnutlsCli(ours.port, [
      "-V",
      ...extra,
      "--x509cafile",
      files.caFile,
      "--priority",
      priority
    ])
    yield* cli.waitFor(completed)
    yield* cli.endInput
    assert.deepStrictEqual(yield* cli.exited(), { code: 0, signal: null })
    return { served: ours.served, output: yield* cli.output }
  })

layer(env, { excludeTestServices: true, timeout: 30_000 })(
  "channel binding interop: gnutls-cli to our server",
  (it) => {
    for (const version of versions) {
      it.scoped(`${version}: gnutls-cli's channel bindings equal ours`, () =>
        Effect.gen(function*() {
          const { output, served: next } = yield* gnutlsToOurs(Peers.gnutlsPriority[version])
          const served = yield* next
          assert.strictEqual((yield* served.info).protocolVersion, version)
          const printed = gnutlsBindings(output)
          assert.strictEqual(printed.length, 3, output)
          if (onDeno) {
            // tls-server-end-point agrees; the others are not ours to give there
            assert.deepStrictEqual(ourValues(served), {
              ...byType(printed),
              "tls-unique": undefined,
              "tls-exporter": undefined
            })
            assert.deepStrictEqual({ ...served.bindings, "tls-server-end-point": undefined }, {
              ...denoLacks(version),
              "tls-server-end-point": undefined
            })
            return
          }
          // (gnutls-cli's own lines in the message: a value it could not give is "not available" or "error: ...")
          assert.deepStrictEqual(
            byType(printed),
            ourValues(served),
            output.split("\n").filter((line) => /'tls-|binding|error/i.test(line)).join("\n")
          )
          // every type GnuTLS offers on this version, we offer too, and the other way round
          assert.strictEqual(printed.filter((line) => line.value !== undefined).length, version === "TLSv1.3" ? 2 : 3)
          if (version === "TLSv1.3") assert.deepStrictEqual(served.bindings["tls-unique"], Either.left("NotSupported"))
        }))
    }

    it.scoped("TLSv1.2 resumed (-r): tls-unique is the server's Finished, as GnuTLS computes it", () =>
      Effect.gen(function*() {
        const { output, served } = yield* gnutlsToOurs(
          Peers.gnutlsPriority["TLSv1.2"],
          ["-r"],
          /- Resume Handshake was completed|- Handshake was completed[\s\S]*- Handshake was completed/
        )
        const first = yield* served
        const second = yield* served
        const printed = gnutlsBindings(output)
        assert.strictEqual(printed.length, 6, output)
        if (onDeno) {
          // (a Deno server does resume a TLS 1.2 session; it has no tls-unique to give)
          assert.isTrue((yield* second.info).resumed, output)
          assert.include(output, "*** This is a resumed session")
          assert.deepStrictEqual(second.bindings["tls-unique"], Either.left("NotAvailable"))
          assert.strictEqual(
            byType(printed.slice(3))["tls-server-end-point"],
            ourValues(second)["tls-server-end-point"]
          )
          return
        }
        assert.deepStrictEqual(byType(printed.slice(0, 3)), ourValues(first))
        assert.deepStrictEqual(byType(printed.slice(3)), ourValues(second))
        assert.isFalse((yield* first.info).resumed)
        // the second connection must really have been resumed for this test to mean anything
        assert.isTrue((yield* second.info).resumed, output)
        assert.include(output, "*** This is a resumed session")
      }))

    it.scoped("TLSv1.2 without extended master secret (%NO_SESSION_HASH): no tls-exporter on either side", () =>
      Effect.gen(function*() {
        const { output, served: next } = yield* gnutlsToOurs(`${Peers.gnutlsPriority["TLSv1.2"]}:%NO_SESSION_HASH`)
        assert.notInclude(output, "extended master secret")
        const served = yield* next
        const printed = gnutlsBindings(output)
        if (onDeno) {
          // (the extended master secret unknown to us there: NotImplemented, never a value)
          assert.deepStrictEqual(served.bindings["tls-exporter"], Either.left("NotImplemented"))
          assert.strictEqual(byType(printed)["tls-server-end-point"], ourValues(served)["tls-server-end-point"])
          return
        }
        assert.deepStrictEqual(served.bindings["tls-exporter"], Either.left("NotSupported"))
        assert.deepStrictEqual(byType(printed), ourValues(served))
        assert.isDefined(byType(printed)["tls-unique"])
      }))
  }
)

/** A session DER: SEQUENCE { version INTEGER 1, protocol 0x0303, suite, ...fields }. */
const sessionDer = (...fields: ReadonlyArray<ReadonlyArray<number>>) => {
  const body = [0x02, 0x01, 0x01, 0x02, 0x02, 0x03, 0x03, 0x04, 0x02, 0xc0, 0x2b, ...fields.flat()]
  return Buffer.from([0x30, body.length, ...body])
}

describe("the extended master secret, read from a TLS 1.2 session's DER (tls-exporter below TLS 1.3)", () => {
  // (as Bun 1.4's getSession() encodes it: [17] BOOLEAN TRUE with it, absent without, seen against
  // gnutls-serv with and without %NO_SESSION_HASH)
  it("BoringSSL: [17] BOOLEAN", () => {
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(
        sessionDer([0xa9, 0x04, 0x02, 0x02, 0x54, 0x60], [0xb1, 0x03, 0x01, 0x01, 0xff]),
        "boringssl"
      ),
      Option.some(true)
    )
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(sessionDer([0xb1, 0x03, 0x01, 0x01, 0x00]), "boringssl"),
      Option.some(false)
    )
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(sessionDer([0xb2, 0x03, 0x02, 0x01, 0x1d]), "boringssl"),
      Option.some(false)
    )
    // another structure version: not read
    const other = sessionDer([0xb1, 0x03, 0x01, 0x01, 0xff])
    other[4] = 2
    assert.deepStrictEqual(sessionHasExtendedMasterSecret(other, "boringssl"), Option.none())
  })

  it("OpenSSL: [13] flags, SSL_SESS_FLAG_EXTMS; BoringSSL's [17] means nothing there", () => {
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(sessionDer([0xad, 0x03, 0x02, 0x01, 0x01])),
      Option.some(true)
    )
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(sessionDer([0xad, 0x03, 0x02, 0x01, 0x02])),
      Option.some(false)
    )
    assert.deepStrictEqual(
      sessionHasExtendedMasterSecret(sessionDer([0xb1, 0x03, 0x01, 0x01, 0xff])),
      Option.some(false)
    )
  })

  it("the DER is wiped once read (it holds the master key)", () => {
    const session = sessionDer([0xb1, 0x03, 0x01, 0x01, 0xff])
    sessionHasExtendedMasterSecret(session, "boringssl")
    assert.isTrue(session.every((byte) => byte === 0))
  })
})
