/**
 * The `effect-tls` command line, run as a subprocess (the package's `bin`, `src/internal/cli/bin.ts`): `probe` against `openssl s_server`, `openssl s_client` against `serve`, and
 * `cert verify` / `cert inspect` against the library's own answers.
 */
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as TlsServer from "@effect-tls/core/TlsServer"
import type { Transport } from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"
import * as Peer from "./interop/Peer.js"
import * as Peers from "./interop/peers.js"

/** The package's `bin` (TypeScript: run through tsx's loader in one process, as `#!/usr/bin/env tsx` does). */
const bin = Path.join(import.meta.dirname, "..", "src", "internal", "cli", "bin.ts")
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const node = (args: ReadonlyArray<string>) => ["--import", tsx, bin, ...args]

/** Runs `effect-tls ARGS` to its end: its exit code, stdout and both streams. */
const cli = (args: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function*() {
    const peer = yield* Peer.spawn(process.execPath, node(args))
    const exited = yield* peer.exited("30 seconds")
    return { code: exited.code, stdout: yield* peer.stdout, output: yield* peer.output }
  }))

/** `effect-tls serve ARGS`, left running for the test's scope; ready when it prints its address. */
const serve = (args: ReadonlyArray<string>) =>
  Effect.map(
    Peer.spawn(process.execPath, node(["serve", "--json", ...args]), {
      ready: /^\{"event":"listening".*\}$/m,
      readyTimeout: "30 seconds"
    }),
    (peer) => {
      const listening = JSON.parse(peer.readyMatch![0]) as { port: number; ca: string | null }
      return { peer, port: listening.port, ca: listening.ca }
    }
  )

const files = Effect.gen(function*() {
  const fixture = yield* TestPki.TestPki
  return { fixture, server: yield* TestPki.writeFiles(fixture.server, fixture.pki) }
})

/** A plaintext line from `transport` (CRLF-terminated). */
const readLine = (transport: Transport) =>
  Effect.gen(function*() {
    let line = ""
    while (!line.endsWith("\r\n")) {
      const chunk = yield* transport.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage("the client hung up")
      line += new TextDecoder().decode(chunk.value)
    }
    return line.trimEnd()
  })

/** `effect-tls probe` of 127.0.0.1:PORT as `localhost`, trusting `caFile`, plus `extra` arguments. */
const probe = (port: number, caFile: string, extra: ReadonlyArray<string> = []) =>
  cli(["probe", `127.0.0.1:${port}`, "--servername", "localhost", "--ca", caFile, ...extra])

/** An SMTP server offering STARTTLS, then TLS with the fixture's certificate (one per connection). */
const smtpServer = Effect.gen(function*() {
  const fixture = yield* TestPki.TestPki
  const listener = yield* NodeTransport.listen({ host: "127.0.0.1", port: 0 })
  const say = (transport: Transport, text: string) => transport.write(new TextEncoder().encode(text))
  yield* Effect.forkScoped(listener.run((transport) =>
    Effect.gen(function*() {
      yield* say(transport, "220 mx.test ESMTP\r\n")
      assert.match(yield* readLine(transport), /^EHLO /)
      yield* say(transport, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
      assert.strictEqual(yield* readLine(transport), "STARTTLS")
      yield* say(transport, "220 go ahead\r\n")
      const tls = yield* TlsServer.accept(transport, { certificate: fixture.server.certifiedKey })
      yield* tls.stream.pipe(Stream.run(tls.sink))
    }).pipe(Effect.scoped, Effect.ignore)
  ))
  return listener.address.port
})

layer(Layer.merge(TestPki.layer(), NodeTlsBackend.layer), { excludeTestServices: true, timeout: 60_000 })(
  "effect-tls CLI",
  (it) => {
    describe("probe", () => {
      it.scoped("reports an openssl s_server: --json parses, the chain verifies, a second connect resumes", () =>
        Effect.gen(function*() {
          const { fixture, server } = yield* files
          const { port } = yield* Peers.sServerWith(server, ["-naccept", "2", "-alpn", "h2"])
          const run = yield* probe(port, server.caFile, [
            "--alpn",
            "h2,http/1.1",
            "--keylog",
            Path.join(server.directory, "keys.log"),
            "--json"
          ])
          assert.strictEqual(run.code, 0, run.output)
          // --keylog: the secrets of both connections (first and resumed)
          const keys = Fs.readFileSync(Path.join(server.directory, "keys.log"), "utf8")
          assert.strictEqual(keys.split("\n").filter((line) => line.startsWith("EXPORTER_SECRET ")).length, 2)
          const report = JSON.parse(run.stdout)
          assert.strictEqual(report.ok, true)
          assert.strictEqual(report.protocol, "TLSv1.3")
          assert.strictEqual(report.alpn, "h2")
          assert.deepStrictEqual(report.verification, { ok: true, flags: [] })
          assert.strictEqual(report.chain[0].sha256, fixture.server.certificate.fingerprintSha256)
          assert.deepStrictEqual(report.chain[0].dnsNames, fixture.server.certificate.dnsNames)
          assert.match(report.channelBinding["tls-exporter"], /^[0-9a-f]{64}$/)
          assert.strictEqual(report.channelBinding["tls-unique"].unavailable.reason, "ChannelBindingError/NotSupported")
          assert.strictEqual(report.resumption.resumed, true)
          assert.isAbove(report.timings.handshakeMs, 0)
        }))

      it.scoped("a CA that did not issue the server's certificate: exit 1, the flags and one error line", () =>
        Effect.gen(function*() {
          const { server } = yield* files
          const other = yield* TestPki.make({ commonName: "Other CA" })
          const otherCa = yield* TestPki.writeFiles(other.ca, other)
          const { port } = yield* Peers.sServerWith(server)
          const run = yield* probe(port, otherCa.caFile)
          assert.strictEqual(run.code, 1, run.output)
          assert.match(run.stdout, /verification: +REFUSED \(flags: UnknownCa\)/)
          const errors = run.output.split("\n").filter((line) => line.startsWith("effect-tls:"))
          assert.deepStrictEqual(errors.length, 1)
          assert.match(errors[0]!, /^effect-tls: TlsBadCertificateError\/BadCertificate: .*UnknownCa/)
        }))

      it.scoped("--starttls smtp: EHLO, STARTTLS, then the TLS report", () =>
        Effect.gen(function*() {
          const { server } = yield* files
          const port = yield* smtpServer
          const run = yield* probe(port, server.caFile, ["--starttls", "smtp", "--json"])
          assert.strictEqual(run.code, 0, run.output)
          const report = JSON.parse(run.stdout)
          assert.strictEqual(report.starttls, "smtp")
          assert.deepStrictEqual(report.verification, { ok: true, flags: [] })
          assert.strictEqual(report.resumption.resumed, true)
        }))

      it.scoped("nothing listening: exit 2", () =>
        Effect.gen(function*() {
          const port = yield* Peer.freePort
          const refused = yield* cli(["probe", `127.0.0.1:${port}`, "--json"])
          assert.strictEqual(refused.code, 2, refused.output)
          assert.strictEqual(JSON.parse(refused.stdout).error.reason, "TransportError/Open")
        }))

      it.scoped("bad usage (conflicting versions, a missing address): exit 64", () =>
        Effect.gen(function*() {
          const usage = yield* cli(["probe", "127.0.0.1:443", "--tls1.2", "--tls1.3"])
          assert.strictEqual(usage.code, 64, usage.output)
          const missing = yield* cli(["probe"])
          assert.strictEqual(missing.code, 64, missing.output)
        }))
    })

    describe("serve", () => {
      it.scoped("openssl s_client verifies a generated certificate and gets its bytes back; one JSON line per connection", () =>
        Effect.gen(function*() {
          const server = yield* serve(["--generate", "localhost", "--alpn", "echo/1,h2"])
          assert.isString(server.ca)
          assert.isTrue(Fs.existsSync(server.ca!))
          const client = yield* Peers.sClient(server.port, [
            "-servername",
            "localhost",
            "-CAfile",
            server.ca!,
            "-verify_return_error",
            "-alpn",
            "echo/1",
            "-ign_eof"
          ])
          yield* client.waitFor(/Verify return code: 0 \(ok\)/)
          yield* client.write("ping from s_client\n")
          yield* client.waitFor(/^ping from s_client$/m)
          const line = yield* server.peer.waitFor(/^\{"event":"connection".*\}$/m)
          const connection = JSON.parse(line[0])
          assert.strictEqual(connection.ok, true)
          assert.strictEqual(connection.alpn, "echo/1")
          assert.strictEqual(connection.sni, "localhost")
          assert.strictEqual(connection.protocol, "TLSv1.3")
        }))

      it.scoped("--sni NAME=CERT,KEY: openssl s_client gets each name's certificate, and the default without SNI", () =>
        Effect.gen(function*() {
          const { fixture } = yield* files
          const issue = (name: string) =>
            Effect.flatMap(
              fixture.pki.issueServer({ commonName: name, dnsNames: [name] }),
              (issued) => Effect.map(TestPki.writeFiles(issued, fixture.pki), (written) => ({ issued, written }))
            )
          const a = yield* issue("a.test")
          const b = yield* issue("b.test")
          const server = yield* serve([
            "--generate",
            "default.test",
            "--sni",
            `a.test=${a.written.chainFile},${a.written.keyFile}`,
            "--sni",
            `*.b.test=${b.written.chainFile},${b.written.keyFile}`,
            "--sni",
            `b.test=${b.written.chainFile},${b.written.keyFile}`
          ])
          const subjectFor = (args: ReadonlyArray<string>) =>
            Effect.scoped(Effect.gen(function*() {
              const client = yield* Peers.sClient(server.port, [...args, "-ign_eof"])
              const match = yield* client.waitFor(/^subject=(.*)$/m)
              return match[1]!.replace(/\s/g, "")
            }))
          assert.match(
            yield* subjectFor(["-servername", "a.test", "-verify_return_error", "-CAfile", a.written.caFile]),
            /CN=a\.test/
          )
          assert.match(yield* subjectFor(["-servername", "B.TEST", "-CAfile", b.written.caFile]), /CN=b\.test/)
          assert.match(yield* subjectFor(["-noservername"]), /CN=default\.test/)
          // the server prints a connection's line when its handshake is done: wait for the third
          yield* server.peer.waitFor(/("event":"connection"[\s\S]*){3}/)
          const lines = (yield* server.peer.stdout).split("\n").filter((line) => line.includes("\"connection\""))
          const served = lines.map((line) => JSON.parse(line).certificate?.subject)
          assert.deepStrictEqual(served.slice(0, 3).map((subject: string) => /CN=([^,]+)/.exec(subject)?.[1]), [
            "a.test",
            "b.test",
            "default.test"
          ])
        }))
    })

    describe("cert", () => {
      it.scoped("verify: the flags are the library's (expired, wrong host), exit 1; a good chain, exit 0", () =>
        Effect.gen(function*() {
          const { fixture } = yield* files
          const expired = yield* fixture.pki.issueServer({ dnsNames: ["example.test"], validity: "expired" })
          const expiredFiles = yield* TestPki.writeFiles(expired, fixture.pki)
          const good = yield* TestPki.writeFiles(fixture.server, fixture.pki)
          const library = yield* fixture.pki.database.verifyChain(expired.chain, {
            purpose: "server",
            identity: "localhost"
          })
          assert.deepStrictEqual(CertificateFlags.toArray(library), ["BadIdentity", "Expired"])
          const verify = (files: TestPki.PemFiles, extra: ReadonlyArray<string> = []) =>
            cli(["cert", "verify", files.chainFile, "--ca", files.caFile, "--host", "localhost", ...extra])
          const refused = yield* verify(expiredFiles, ["--json"])
          assert.strictEqual(refused.code, 1, refused.output)
          assert.deepStrictEqual(JSON.parse(refused.stdout).flags, CertificateFlags.toArray(library))
          // at a time inside its validity it is not expired (the root may not be valid yet then): --time is used
          const at = new Date((expired.notBefore.getTime() + expired.notAfter.getTime()) / 2)
          const then = yield* TlsDatabase.fromAnchors([fixture.pki.root.certificate]).verifyChain(expired.chain, {
            purpose: "server",
            identity: "localhost",
            time: at
          })
          const past = yield* verify(expiredFiles, ["--time", at.toISOString(), "--json"])
          assert.deepStrictEqual(JSON.parse(past.stdout).flags, CertificateFlags.toArray(then))
          assert.isFalse(CertificateFlags.has(then, "Expired"))
          assert.isTrue(CertificateFlags.has(then, "BadIdentity"))
          const ok = yield* verify(good)
          assert.strictEqual(ok.code, 0, ok.output)
          assert.match(ok.stdout, /^OK: /)
        }))

      it.scoped("inspect: the parsed certificate; a missing file is bad usage (64)", () =>
        Effect.gen(function*() {
          const { fixture, server } = yield* files
          const run = yield* cli(["cert", "inspect", server.certFile, "--json"])
          assert.strictEqual(run.code, 0, run.output)
          const [certificate] = JSON.parse(run.stdout).certificates
          assert.strictEqual(certificate.subject, fixture.server.certificate.subject.text)
          assert.strictEqual(certificate.sha256, fixture.server.certificate.fingerprintSha256)
          assert.deepStrictEqual(certificate.ipAddresses, fixture.server.certificate.ipAddresses)
          const missing = yield* cli(["cert", "inspect", Path.join(server.directory, "nothing.pem")])
          assert.strictEqual(missing.code, 64, missing.output)
          assert.match(missing.output, /^effect-tls: CertificateError\/NotFound: /m)
        }))
    })
  }
)
