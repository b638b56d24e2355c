/**
 * Interop with TLS peers nobody here wrote: OpenSSL's `s_server` / `s_client` and GnuTLS's
 * `gnutls-serv` / `gnutls-cli` (Debian packages `openssl`, `gnutls-bin`), started on
 * 127.0.0.1 by each test and stopped by PID when the test's scope closes. Nothing is skipped:
 * a missing peer fails the test.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import type { HandshakeInfo } from "@effect-tls/core/HandshakeInfo"
import type { ProtocolVersion } from "@effect-tls/core/ProtocolVersion"
import * as TlsClient from "@effect-tls/core/TlsClient"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsError from "@effect-tls/core/TlsError"
import type * as TlsServer from "@effect-tls/core/TlsServer"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as OurServer from "./interop/ourServer.js"
import * as Peer from "./interop/Peer.js"
import * as Peers from "./interop/peers.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const versions = ["TLSv1.3", "TLSv1.2"] as const satisfies ReadonlyArray<ProtocolVersion>

// (Deno 2.9, the README's support matrix: no exportKeyingMaterial; a TLS 1.3 client cannot
// decrypt the CertificateRequest)
const onDeno = typeof (globalThis as any).Deno === "object"

/**
 * An export's bytes, or undefined on Deno, where it must fail with the documented typed error
 * (`TlsGenericError` `Misc`: the runtime has no exportKeyingMaterial).
 */
const exported = (result: Either.Either<Uint8Array, TlsError.TlsError>): Uint8Array | undefined => {
  if (!onDeno) return Either.getOrThrow(result)
  assert.isTrue(Either.isLeft(result), "an exporter on Deno")
  const error = Either.getLeft(result).pipe(Option.getOrThrow)
  assert.strictEqual(error._tag, "TlsGenericError")
  assert.strictEqual((error as TlsError.TlsGenericError).reason, "Misc")
  assert.match(error.message, /has no exportKeyingMaterial/)
  return undefined
}

/** An ECDSA (the fixture's keys are P-256) suite per version, to check that a forced suite is reported. */
const forcedSuite = {
  "TLSv1.3": {
    openssl: ["-ciphersuites", "TLS_AES_128_GCM_SHA256"],
    opensslName: "TLS_AES_128_GCM_SHA256",
    iana: "TLS_AES_128_GCM_SHA256"
  },
  "TLSv1.2": {
    openssl: ["-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    opensslName: "ECDHE-ECDSA-AES128-GCM-SHA256",
    iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
  }
} as const

/** The fixture and its PEM files (removed with the test's scope). */
const files = Effect.gen(function*() {
  const fixture = yield* TestPki.TestPki
  const server = yield* TestPki.writeFiles(fixture.server, fixture.pki)
  const client = yield* TestPki.writeFiles(fixture.client, fixture.pki)
  return { fixture, server, client }
})

/** Our client over TCP to 127.0.0.1:port, trusting the fixture's root, expecting `localhost`. */
const connectTo = (port: number, options: TlsClient.ClientOptions = {}) =>
  Effect.gen(function*() {
    const fixture = yield* TestPki.TestPki
    const transport = yield* NodeTransport.connect({ host: "127.0.0.1", port, timeout: "5 seconds" })
    return yield* TlsClient.make(transport, {
      serverIdentity: "localhost",
      database: fixture.pki.database,
      handshakeTimeout: "10 seconds",
      ...options
    })
  })

/** Reads until the text received so far matches `pattern`; fails if the stream ends first. */
const readUntil = (conn: TlsConnection, pattern: RegExp) =>
  Effect.gen(function*() {
    let text = ""
    while (!pattern.test(text)) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`end of stream before ${pattern}; got ${text}`)
      text += decoder.decode(chunk.value, { stream: true })
    }
    return text
  }).pipe(Effect.timeout("10 seconds"))

/** Reads to the end, returning the text and how the stream ended. */
const readAll = (conn: TlsConnection) =>
  Effect.gen(function*() {
    let text = ""
    const exit = yield* Effect.exit(
      Stream.runForEach(conn.stream, (chunk) => Effect.sync(() => (text += decoder.decode(chunk, { stream: true }))))
    )
    return { text, exit }
  }).pipe(Effect.timeout("10 seconds"))

/** Kills the peer mid-stream: our stream must fail with Eof (truncation), having read nothing more. */
const killAndExpectEof = (peer: Peer.Peer, conn: TlsConnection) =>
  Effect.gen(function*() {
    yield* peer.kill("SIGKILL")
    yield* peer.exited()
    const { exit, text } = yield* readAll(conn)
    assert.strictEqual(text, "")
    const error = yield* Effect.flip(exit)
    if (error._tag !== "TlsGenericError") return assert.fail(`expected TlsGenericError, got ${error.message}`)
    assert.strictEqual(error.reason, "Eof")
  })

/** openssl s_client to our server, verifying it as `localhost` against `caFile`, plus `extra` arguments. */
const sClientVerifying = (port: number, caFile: string, extra: ReadonlyArray<string>) =>
  Peers.sClient(port, ["-servername", "localhost", "-verify_return_error", "-CAfile", caFile, ...extra])

/** gnutls-serv echoing with the PKI's server certificate, plus `extra` arguments. */
const gnutlsEcho = (
  server: { readonly chainFile: string; readonly keyFile: string },
  extra: ReadonlyArray<string> = []
) => Peers.gnutlsServ(["--x509certfile", server.chainFile, "--x509keyfile", server.keyFile, "--echo", ...extra])

const upper = (bytes: Uint8Array) => encoder.encode(decoder.decode(bytes).toUpperCase())

interface Served {
  readonly info: Exit.Exit<HandshakeInfo, TlsError.TlsError>
  readonly echo: Exit.Exit<void, TlsError.TlsError>
  /** EXPORTER-Channel-Binding, 32 bytes, no context (none: the handshake failed). */
  readonly exporter: Option.Option<Either.Either<Uint8Array, TlsError.TlsError>>
}

/**
 * Our server (`TlsServer` behind `NodeTransport.listen` on 127.0.0.1): echoes upper-cased
 * text until the peer's close_notify, then closes. Every connection's outcome goes to `served`:
 * the handshake, how the echo ended (success = the peer's close_notify arrived), the exporter.
 */
const ourServer = (options: Partial<TlsServer.ServerOptions> = {}) =>
  Effect.flatMap(TestPki.TestPki, (fixture) =>
    OurServer.ourServer<Served>(
      { database: fixture.pki.database, ...options },
      (conn, report) =>
        Effect.gen(function*() {
          const info = yield* Effect.exit(conn.handshake)
          if (Exit.isFailure(info)) return yield* report({ info, echo: Exit.void, exporter: Option.none() })
          const exporter = Option.some(yield* Effect.either(conn.exportKeyingMaterial(32, "EXPORTER-Channel-Binding")))
          // ends without error only on the peer's close_notify
          const echo = yield* Effect.exit(conn.stream.pipe(Stream.map(upper), Stream.run(conn.sink)))
          yield* report({ info, echo, exporter })
          // our close_notify in return; the peer may have hung up already, that is no failure of its
          yield* Effect.ignore(conn.closeWrite)
        })
    ))

const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("")

const env = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

layer(env, { timeout: 30_000, excludeTestServices: true })("interop: our client to openssl s_server", (it) => {
  for (const version of versions) {
    it.scoped(`${version}: verified handshake, forced suite, ALPN, data both ways (-rev)`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const { peer, port } = yield* Peers.sServerWith(server, [
          Peers.opensslVersion[version],
          ...forcedSuite[version].openssl,
          "-alpn",
          "h2,http/1.1",
          "-rev"
        ])
        const conn = yield* connectTo(port, { alpn: ["http/1.1", "h2"] })
        const info = yield* conn.handshake
        assert.strictEqual(info.protocolVersion, version)
        assert.strictEqual(info.ciphersuiteName, forcedSuite[version].iana)
        assert.deepStrictEqual(Option.getOrNull(info.negotiatedProtocol), "h2")
        assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
        assert.deepStrictEqual(Option.getOrNull(info.serverIdentity), "localhost")
        const leaf = Option.getOrThrow(info.peerCertificate)[0]!
        assert.include(leaf.dnsNames, "localhost")

        yield* conn.write(encoder.encode("hello interop\n"))
        const reply = yield* readUntil(conn, /\n/)
        assert.strictEqual(reply, "poretni olleh\n")
        // s_server's own view of the same connection (its lines after CONNECTION ESTABLISHED may
        // come in later chunks of its output: wait for each line read here)
        yield* peer.waitFor(/CONNECTION ESTABLISHED/)
        yield* peer.waitFor(/Protocol version: [^\n]*\n/)
        yield* peer.waitFor(/Ciphersuite: [^\n]*\n/)
        const output = yield* peer.output
        assert.include(output, `Protocol version: ${version}`)
        assert.include(output, `Ciphersuite: ${forcedSuite[version].opensslName}`)
      }))
  }

  it.scoped("a certificate for another host: TlsBadCertificateError with BadIdentity", () =>
    Effect.gen(function*() {
      const fixture = yield* TestPki.TestPki
      const other = yield* fixture.pki.issueServer({ dnsNames: ["other.example"], ipAddresses: [] })
      const otherFiles = yield* TestPki.writeFiles(other, fixture.pki)
      const { port } = yield* Peers.sServerWith(otherFiles, ["-rev"])
      const conn = yield* connectTo(port)
      const error = yield* Effect.flip(conn.handshake)
      if (error._tag !== "TlsBadCertificateError") return assert.fail(`expected BadCertificate, got ${error.message}`)
      assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["BadIdentity"])
      assert.strictEqual(error.side, "client")
      assert.strictEqual(error.identity, "localhost")
      assert.deepStrictEqual(error.peerCertificate[0]?.dnsNames, ["other.example"])
    }))

  it.scoped("a certificate from an untrusted CA: TlsBadCertificateError with UnknownCa", () =>
    Effect.gen(function*() {
      const stranger = yield* TestPki.make()
      const leaf = yield* stranger.issueServer()
      const strangerFiles = yield* TestPki.writeFiles(leaf, stranger)
      const { port } = yield* Peers.sServerWith(strangerFiles, ["-rev"])
      const conn = yield* connectTo(port)
      const error = yield* Effect.flip(conn.handshake)
      if (error._tag !== "TlsBadCertificateError") return assert.fail(`expected BadCertificate, got ${error.message}`)
      assert.deepStrictEqual(CertificateFlags.toArray(error.flags), ["UnknownCa"])
      assert.strictEqual(error.peerCertificate[0]?.fingerprintSha256, leaf.certificate.fingerprintSha256)
    }))

  for (const version of versions) {
    it.scoped(`${version}: mTLS (-Verify 1): our client certificate is accepted`, () =>
      Effect.gen(function*() {
        const { client, fixture, server } = yield* files
        const { peer, port } = yield* Peers.sServerWith(server, [
          "-Verify",
          "1",
          "-CAfile",
          client.caFile,
          Peers.opensslVersion[version],
          "-rev"
        ])
        const conn = yield* connectTo(port, { certificate: fixture.client.certifiedKey })
        yield* conn.write(encoder.encode("mutual\n"))
        assert.strictEqual(yield* readUntil(conn, /\n/), "lautum\n")
        yield* peer.waitFor(/CONNECTION ESTABLISHED/)
        const output = yield* peer.output
        assert.match(output, /CN ?= ?client/)
        assert.notMatch(output, /verify error/)
      }))

    it.scoped(`${version}: mTLS (-Verify 1) without a client certificate: a typed error`, () =>
      Effect.gen(function*() {
        const { fixture, server } = yield* files
        const { peer, port } = yield* Peers.sServerWith(server, [
          "-Verify",
          "1",
          "-CAfile",
          server.caFile,
          Peers.opensslVersion[version],
          "-rev"
        ])
        // (a TLS 1.3 client with no certificate and no interaction reads the CA names only when asked)
        const conn = yield* connectTo(port).pipe(Effect.provideService(NodeTlsBackend.RecordAcceptedCas, true))
        // TLS 1.3: the client's handshake is over before the server reads its (empty) Certificate,
        // so the refusal arrives with the first read; TLS 1.2: during the handshake
        const error = yield* Effect.flip(
          conn.handshake.pipe(
            Effect.zipRight(conn.write(encoder.encode("anyone?\n"))),
            Effect.zipRight(readUntil(conn, /\n/))
          )
        )
        assert.isTrue(TlsError.isTlsError(error), String(error))
        // observed with OpenSSL 3.0 on both versions: the certificate_required (1.3) /
        // handshake_failure (1.2) refusal is reported as CertificateRequired, with s_server's CA names
        if (error._tag !== "TlsCertificateRequiredError") {
          return assert.fail(`expected TlsCertificateRequiredError, got ${error.message}`)
        }
        assert.strictEqual(error.side, "client")
        // (Deno, TLS 1.3: the refusal still typed, without the names it could not read)
        assert.deepStrictEqual(
          error.acceptedCas.map((name) => name.text),
          onDeno && version === "TLSv1.3" ? [] : [fixture.pki.root.certificate.subject.text]
        )
        yield* peer.waitFor(/peer did not return a certificate/)
      }))
  }

  it.scoped("truncation: s_server killed (SIGKILL) mid-stream fails our stream with Eof", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      const { peer, port } = yield* Peers.sServerWith(server)
      const conn = yield* connectTo(port)
      yield* conn.handshake
      yield* peer.write("first half\n")
      assert.strictEqual(yield* readUntil(conn, /\n/), "first half\n")
      yield* killAndExpectEof(peer, conn)
    }))

  it.scoped("clean close: s_server -rev answers CLOSE with close_notify, our stream ends without error", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      const { peer, port } = yield* Peers.sServerWith(server, ["-rev"])
      const conn = yield* connectTo(port)
      // s_server -rev stops on a CLOSE line and frees its SSL BIO, which sends close_notify; our
      // stream requires close_notify (the default), so ending without error proves it came (the
      // Q test below shows the same stream failing when it does not)
      yield* conn.write(encoder.encode("abc\nCLOSE\n"))
      const { exit, text } = yield* readAll(conn)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual(text, "cba\n")
      yield* peer.waitFor(/CONNECTION CLOSED/)
    }))

  it.scoped("clean close: s_server answers our close_notify with its own, our stream ends without error", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      const { peer, port } = yield* Peers.sServerWith(server)
      const conn = yield* connectTo(port)
      yield* conn.handshake
      yield* peer.write("from s_server\n")
      assert.strictEqual(yield* readUntil(conn, /\n/), "from s_server\n")
      yield* conn.write(encoder.encode("from us\n"))
      yield* peer.waitFor(/from us/)
      yield* conn.closeWrite
      const { exit, text } = yield* readAll(conn)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual(text, "")
      yield* peer.waitFor(/shutting down SSL/)
    }))

  it.scoped("truncation: s_server's Q closes the socket without close_notify", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      const { peer, port } = yield* Peers.sServerWith(server)
      const conn = yield* connectTo(port)
      yield* conn.handshake
      yield* peer.write("Q\n")
      const { exit, text } = yield* readAll(conn)
      assert.strictEqual(text, "")
      const error = yield* Effect.flip(exit)
      if (error._tag !== "TlsGenericError") return assert.fail(`expected TlsGenericError, got ${error.message}`)
      assert.strictEqual(error.reason, "Eof")
    }))

  for (const version of versions) {
    it.scoped(`${version}: exporter EXPORTER-Channel-Binding equals s_server's -keymatexport`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const { peer, port } = yield* Peers.sServerWith(server, [
          Peers.opensslVersion[version],
          "-keymatexport",
          "EXPORTER-Channel-Binding",
          "-keymatexportlen",
          "32"
        ])
        const conn = yield* connectTo(port)
        const info = yield* conn.handshake
        assert.strictEqual(info.protocolVersion, version)
        const ours = exported(yield* Effect.either(conn.exportKeyingMaterial(32, "EXPORTER-Channel-Binding")))
        if (ours === undefined) return
        const [, theirs] = yield* peer.waitFor(/Keying material: ([0-9A-F]+)/)
        assert.strictEqual(ours.length, 32)
        assert.strictEqual(hex(ours), theirs!.toLowerCase())
      }))
  }
})

layer(env, { timeout: 30_000, excludeTestServices: true })("interop: openssl s_client to our server", (it) => {
  for (const version of versions) {
    it.scoped(`${version}: -verify_return_error -CAfile, SNI, ALPN, echo, exporter`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const ours = yield* ourServer({ alpn: ["h2", "http/1.1"] })
        const client = yield* sClientVerifying(ours.port, server.caFile, [
          "-alpn",
          "http/1.1,h2",
          Peers.opensslVersion[version],
          "-keymatexport",
          "EXPORTER-Channel-Binding",
          "-keymatexportlen",
          "32"
        ])
        yield* client.write("hello from s_client\n")
        yield* client.waitFor(/HELLO FROM S_CLIENT\n/)
        yield* client.endInput // s_client sends close_notify and exits
        const exited = yield* client.exited()
        assert.deepStrictEqual(exited, { code: 0, signal: null })

        const served = yield* ours.served
        const info = yield* served.info
        assert.strictEqual(info.protocolVersion, version)
        assert.deepStrictEqual(Option.getOrNull(info.negotiatedProtocol), "h2")
        assert.deepStrictEqual(Option.getOrNull(info.serverName), "localhost")
        assert.isTrue(Option.isNone(info.peerCertificate))
        assert.isTrue(Exit.isSuccess(served.echo), String(served.echo))

        const output = yield* client.output
        assert.include(output, "Verify return code: 0 (ok)")
        assert.include(output, "ALPN protocol: h2")
        assert.include(output, `New, ${version}, Cipher is`)
        const material = exported(Option.getOrThrow(served.exporter))
        if (material === undefined) return
        const [, theirs] = /Keying material: ([0-9A-F]+)/.exec(output)!
        assert.strictEqual(hex(material), theirs!.toLowerCase())
      }))
  }

  for (const version of versions) {
    it.scoped(`${version}: clientAuth required, s_client presents -cert/-key: accepted`, () =>
      Effect.gen(function*() {
        const { client, fixture, server } = yield* files
        const ours = yield* ourServer({ clientAuth: "required" })
        const peer = yield* sClientVerifying(ours.port, server.caFile, [
          "-brief",
          "-cert",
          client.certFile,
          "-key",
          client.keyFile,
          Peers.opensslVersion[version]
        ])
        yield* peer.write("with a certificate\n")
        yield* peer.waitFor(/WITH A CERTIFICATE\n/)
        yield* peer.endInput
        const served = yield* ours.served
        const info = yield* served.info
        const leaf = Option.getOrThrow(info.peerCertificate)[0]!
        assert.strictEqual(leaf.fingerprintSha256, fixture.client.certificate.fingerprintSha256)
        assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))
        assert.isTrue(Exit.isSuccess(served.echo), String(served.echo))
        assert.deepStrictEqual(yield* peer.exited(), { code: 0, signal: null })
      }))

    it.scoped(`${version}: clientAuth required, s_client without a certificate: our server fails typed`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const ours = yield* ourServer({ clientAuth: "required" })
        const peer = yield* sClientVerifying(ours.port, server.caFile, [
          "-brief",
          Peers.opensslVersion[version]
        ])
        yield* peer.write("without\n")
        const served = yield* ours.served
        const error = yield* Effect.flip(served.info)
        assert.isTrue(TlsError.isTlsError(error), String(error))
        if (error._tag !== "TlsCertificateRequiredError") {
          return assert.fail(`expected TlsCertificateRequiredError, got ${error.message}`)
        }
        assert.strictEqual(error.side, "server")
        const exited = yield* peer.exited()
        assert.notStrictEqual(exited.code, 0)
        yield* peer.waitFor(/alert certificate required|alert handshake failure/)
      }))
  }
})

layer(env, { timeout: 30_000, excludeTestServices: true })("interop: gnutls", (it) => {
  const gnutlsVersion = { "TLSv1.3": "TLS1.3", "TLSv1.2": "TLS1.2" } as const

  for (const version of versions) {
    it.scoped(`${version}: our client to gnutls-serv --echo: verified, SNI, ALPN, echo, exporter`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const { peer, port } = yield* gnutlsEcho(server, [
          "--priority",
          Peers.gnutlsPriority[version],
          "--alpn",
          "h2",
          "--keymatexport",
          "EXPORTER-Channel-Binding",
          "--keymatexportsize",
          "32"
        ])
        const conn = yield* connectTo(port, { alpn: ["http/1.1", "h2"] })
        const info = yield* conn.handshake
        assert.strictEqual(info.protocolVersion, version)
        assert.deepStrictEqual(Option.getOrNull(info.negotiatedProtocol), "h2")
        assert.isTrue(CertificateFlags.isEmpty(info.peerCertificateErrors))

        yield* conn.write(encoder.encode("ping over gnutls\n"))
        assert.strictEqual(yield* readUntil(conn, /\n/), "ping over gnutls\n")

        // --keymatexport: RFC 5705 without a context (printed last, after the session summary)
        const [, keyMaterial] = yield* peer.waitFor(/- Key material: ([0-9a-f]+)/)
        const output = yield* peer.output
        assert.include(output, `- Version: ${gnutlsVersion[version]}`)
        assert.include(output, "- Given server name[1]: localhost")
        assert.include(output, "- Application protocol: h2")
        const ours = exported(yield* Effect.either(conn.exportKeyingMaterial(32, "EXPORTER-Channel-Binding")))
        if (ours === undefined) return
        assert.strictEqual(hex(ours), keyMaterial)
        // GnuTLS's RFC 9266 'tls-exporter' uses a zero-length context: the same value on TLS 1.3,
        // a different one on TLS 1.2 (RFC 5705 tells "no context" from an empty one)
        const [, tlsExporter] = /'tls-exporter': ([0-9a-f]+)/.exec(output)!
        const emptyContext = hex(yield* conn.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", new Uint8Array(0)))
        assert.strictEqual(emptyContext, tlsExporter)
        if (version === "TLSv1.3") assert.strictEqual(tlsExporter, keyMaterial)
        else assert.notStrictEqual(tlsExporter, keyMaterial)
      }))

    it.scoped(`${version}: gnutls-cli to our server: verified, SNI, ALPN, echo, exporter`, () =>
      Effect.gen(function*() {
        const { server } = yield* files
        const ours = yield* ourServer({ alpn: ["h2", "http/1.1"] })
        const client = yield* Peers.gnutlsCli(ours.port, [
          "--x509cafile",
          server.caFile,
          "--alpn",
          "h2",
          "--priority",
          Peers.gnutlsPriority[version],
          "--keymatexport",
          "EXPORTER-Channel-Binding",
          "--keymatexportsize",
          "32"
        ])
        yield* client.write("hello from gnutls\n")
        yield* client.waitFor(/HELLO FROM GNUTLS\n/)
        yield* client.endInput // gnutls-cli sends close_notify, our server answers with its own
        assert.deepStrictEqual(yield* client.exited(), { code: 0, signal: null })

        const served = yield* ours.served
        const info = yield* served.info
        assert.strictEqual(info.protocolVersion, version)
        assert.deepStrictEqual(Option.getOrNull(info.negotiatedProtocol), "h2")
        assert.deepStrictEqual(Option.getOrNull(info.serverName), "localhost")
        assert.isTrue(Exit.isSuccess(served.echo), String(served.echo))

        const output = yield* client.output
        assert.include(output, "- Status: The certificate is trusted.")
        assert.include(output, `- Description: (${gnutlsVersion[version]}-X.509)`)
        assert.include(output, "- Application protocol: h2")
        const material = exported(Option.getOrThrow(served.exporter))
        if (material === undefined) return
        const [, keyMaterial] = /- Key material: ([0-9a-f]+)/.exec(output)!
        assert.strictEqual(hex(material), keyMaterial)
      }))
  }

  it.scoped("truncation: gnutls-serv killed (SIGKILL) mid-stream fails our stream with Eof", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      const { peer, port } = yield* gnutlsEcho(server)
      const conn = yield* connectTo(port)
      yield* conn.write(encoder.encode("before the kill\n"))
      assert.strictEqual(yield* readUntil(conn, /\n/), "before the kill\n")
      yield* killAndExpectEof(peer, conn)
    }))
  it.scoped("TLSv1.2: gnutls-serv (optional client certificate) killed right after the handshake: Eof", () =>
    Effect.gen(function*() {
      const { server } = yield* files
      // gnutls-serv asks for a client certificate by default, without requiring one
      const { peer, port } = yield* gnutlsEcho(server, ["--priority", Peers.gnutlsPriority["TLSv1.2"]])
      // (the CA names are read only where asked for: a client without a certificate otherwise
      // takes the native path, where no handshake byte is seen)
      const conn = yield* connectTo(port).pipe(Effect.provideService(NodeTlsBackend.RecordAcceptedCas, true))
      const info = yield* conn.handshake
      // in TLS 1.2 the server's Finished follows our (empty) Certificate: it took us without one
      assert.deepStrictEqual(Option.getOrNull(info.acceptedCas), [])
      yield* peer.waitFor(/- Version: TLS1.2/)
      yield* peer.kill("SIGKILL")
      yield* peer.exited()
      const error = yield* Effect.flip(readAll(conn).pipe(Effect.flatMap(({ exit }) => exit)))
      if (error._tag !== "TlsGenericError") return assert.fail(`expected TlsGenericError Eof, got ${error.message}`)
      assert.strictEqual(error.reason, "Eof")
    }))
})

layer(Layer.empty, { timeout: 30_000, excludeTestServices: true })("interop: the peer helper", (it) => {
  it.scoped("stops its peer by PID when the scope closes, with SIGKILL if SIGTERM is ignored", () =>
    Effect.gen(function*() {
      const [stubborn, polite] = yield* Effect.scoped(
        Effect.all([
          // `exec` keeps the ignored SIGTERM: only SIGKILL ends this one
          Peer.spawn("sh", ["-c", "trap '' TERM; echo ready; exec sleep 30"], { ready: /ready/ }),
          Peer.spawn("sleep", ["30"])
        ]).pipe(Effect.tap(([stubborn, polite]) => {
          assert.isTrue(Peer.isAlive(stubborn.pid))
          assert.isTrue(Peer.isAlive(polite.pid))
        }))
      )
      assert.isFalse(Peer.isAlive(stubborn.pid))
      assert.isFalse(Peer.isAlive(polite.pid))
    }))

  it.scoped("a missing program is a typed failure, not a skip", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Peer.spawn("effect-tls-no-such-peer", []))
      assert.strictEqual(error.reason, "Spawn")
    }))
})
