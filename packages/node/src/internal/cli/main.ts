/**
 * The `effect-tls` command line, built with `@effect/cli`: `probe`, `serve`, `cert inspect`,
 * `cert verify`. `run` turns arguments into an exit code (0 ok, 1 verification refused,
 * 2 connection or protocol failure, 64 bad usage) and prints a failure as one line.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as NodeKeyLog from "../../NodeKeyLog.js"
import * as NodeTlsBackend from "../../NodeTlsBackend.js"
import * as Cert from "./cert.js"
import { CliError, ExitCode, fromInput } from "./errors.js"
import * as Probe from "./probe.js"
import * as Serve from "./serve.js"

/** @internal */
export const version = "0.1.0"

const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

const keylog = Options.file("keylog").pipe(
  Options.withDescription("append the session secrets to FILE (SSLKEYLOGFILE format, for Wireshark): debugging only"),
  Options.optional
)

/** Runs `effect` with the `KeyLog` writing to `--keylog FILE`, when given. */
const withKeyLog = <A, E, R>(file: Option.Option<string>, effect: Effect.Effect<A, E, R>) =>
  Option.isNone(file)
    ? effect
    : Effect.provide(effect, Layer.mapError(NodeKeyLog.layerFile(file.value), fromInput("--keylog")))

const probeCommand = Command.make(
  "probe",
  {
    target: Args.text({ name: "HOST:PORT" }).pipe(Args.withDescription("where to connect (port 443 by default)")),
    servername: Options.text("servername").pipe(
      Options.withDescription("the server identity: the SNI sent and the name the certificate must match"),
      Options.optional
    ),
    alpn: Options.text("alpn").pipe(
      Options.withDescription("ALPN protocols to offer, comma-separated"),
      Options.optional
    ),
    ca: Options.file("ca").pipe(
      Options.withDescription("trust these CA certificates (PEM) instead of the system store"),
      Options.optional
    ),
    cert: Options.file("cert").pipe(Options.withDescription("a client certificate chain (PEM)"), Options.optional),
    key: Options.file("key").pipe(
      Options.withDescription("the client certificate's private key (PEM)"),
      Options.optional
    ),
    tls12: Options.boolean("tls1.2").pipe(Options.withDescription("TLS 1.2 only")),
    tls13: Options.boolean("tls1.3").pipe(Options.withDescription("TLS 1.3 only")),
    starttls: Options.choice("starttls", ["smtp"]).pipe(
      Options.withDescription("upgrade a plaintext protocol first"),
      Options.optional
    ),
    timeout: Options.integer("timeout").pipe(
      Options.withDescription("seconds for the TCP connect and for the handshake"),
      Options.withDefault(10)
    ),
    keylog,
    json
  },
  (options) => Effect.asVoid(withKeyLog(options.keylog, Probe.probe(options)))
).pipe(Command.withDescription(
  "Connect and report protocol, cipher, ALPN, SNI, the chain, the complete verification flags, channel-binding values, resumption and timings. Exit 0 ok, 1 verification refused, 2 connection or protocol failure, 64 bad usage."
))

const serveCommand = Command.make(
  "serve",
  {
    host: Options.text("host").pipe(Options.withDescription("address to listen on"), Options.withDefault("127.0.0.1")),
    port: Options.integer("port").pipe(Options.withDescription("port (0: any free port)"), Options.withDefault(0)),
    cert: Options.file("cert").pipe(Options.withDescription("the certificate chain (PEM)"), Options.optional),
    key: Options.file("key").pipe(Options.withDescription("its private key (PEM)"), Options.optional),
    generate: Options.text("generate").pipe(
      Options.withDescription(
        "generate a CA and a certificate for NAME (repeat, or comma-separated); prints the CA's path"
      ),
      Options.repeated
    ),
    sni: Options.text("sni").pipe(
      Options.withDescription("NAME=CERT,KEY: the certificate for clients asking for NAME (repeat)"),
      Options.repeated
    ),
    alpn: Options.text("alpn").pipe(
      Options.withDescription("ALPN protocols, in order of preference, comma-separated"),
      Options.optional
    ),
    clientAuth: Options.choice("client-auth", ["none", "requested", "required"]).pipe(
      Options.withDescription("ask clients for a certificate"),
      Options.withDefault("none" as const)
    ),
    ca: Options.file("ca").pipe(
      Options.withDescription("CAs that client certificates must chain to"),
      Options.optional
    ),
    mode: Options.choice("mode", ["echo", "reply"]).pipe(
      Options.withDescription("echo: send back what arrives; reply: send the handshake report, then close"),
      Options.withDefault("echo" as const)
    ),
    keylog,
    json
  },
  (options) => Effect.asVoid(withKeyLog(options.keylog, Serve.serve(options)))
).pipe(Command.withDescription(
  "A TLS server for trying things and for interop or fuzz testing. Prints its address on start, then one line per connection."
))

const inspectCommand = Command.make(
  "inspect",
  { file: Args.file({ name: "FILE" }).pipe(Args.withDescription("PEM certificates")), json },
  (options) => Effect.asVoid(Cert.inspect(options))
).pipe(
  Command.withDescription("Show each certificate of a PEM file: subject, issuer, validity, names, key, fingerprints.")
)

const verifyCommand = Command.make(
  "verify",
  {
    chain: Args.file({ name: "CHAIN" }).pipe(Args.withDescription("the chain to verify, leaf first (PEM)")),
    ca: Options.file("ca").pipe(Options.withDescription("the trust anchors (PEM)")),
    host: Options.text("host").pipe(Options.withDescription("the identity the leaf must match"), Options.optional),
    time: Options.text("time").pipe(
      Options.withDescription("verify at this time (ISO 8601, or seconds since the epoch)"),
      Options.optional
    ),
    purpose: Options.choice("purpose", ["server", "client"]).pipe(
      Options.withDescription("what the leaf is for"),
      Options.withDefault("server" as const)
    ),
    json
  },
  (options) => Effect.asVoid(Cert.verify(options))
).pipe(Command.withDescription(
  "TlsDatabase.verifyChain's complete flags for a chain. Exit 0 when no flag is set, 1 otherwise."
))

const certCommand = Command.make("cert").pipe(
  Command.withDescription("Certificates: inspect, verify"),
  Command.withSubcommands([inspectCommand, verifyCommand])
)

/** @internal */
export const command = Command.make("effect-tls").pipe(
  Command.withDescription("Effect-native TLS: probe servers, serve TLS, inspect and verify certificates"),
  Command.withSubcommands([probeCommand, serveCommand, certCommand])
)

const cli = Command.run(command, { name: "effect-tls", version })

/**
 * Runs the CLI on `argv` (without node and script): succeeds with the exit code, having
 * printed a failure as one line on stderr.
 *
 * @internal
 */
export const run = (argv: ReadonlyArray<string>) =>
  cli(["node", "effect-tls", ...argv]).pipe(
    Effect.scoped,
    Effect.as(ExitCode.Ok as ExitCode),
    Effect.provide(NodeTlsBackend.layer),
    Effect.catchAll((error) => {
      if (ValidationError.isValidationError(error)) {
        // @effect/cli has printed the problem and the usage
        return Effect.succeed(ExitCode.Usage as ExitCode)
      }
      if (error instanceof CliError) {
        return Effect.as(Console.error(`effect-tls: ${error.message}`), error.exitCode)
      }
      return Effect.as(Console.error(`effect-tls: ${String(error)}`), ExitCode.Connection as ExitCode)
    }),
    Effect.catchAllDefect((defect) =>
      Effect.as(Console.error(`effect-tls: internal error: ${Cause.pretty(Cause.die(defect))}`), 70 as ExitCode)
    )
  )
