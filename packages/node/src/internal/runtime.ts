/**
 * What the engine must know about the JavaScript runtime under node:tls: Node, Bun or Deno.
 * Each behaviour below was verified by experiment (see the README's support matrix). Private
 * fields are read only in `nodeInternals` (which uses `verifyErrorCode` below); this module
 * says how a runtime's node:tls differs from Node's.
 *
 * @internal
 */

/** @internal */
export type RuntimeName = "node" | "bun" | "deno"

/** @internal */
export const runtimeName: RuntimeName = typeof (globalThis as any).Deno === "object"
  ? "deno"
  : typeof (globalThis as any).Bun === "object" || typeof process.versions.bun === "string"
  ? "bun"
  : "node"

/** @internal */
export const runtimeVersion: string = runtimeName === "deno"
  ? String((globalThis as any).Deno.version?.deno ?? "unknown")
  : runtimeName === "bun"
  ? String(process.versions.bun)
  : process.versions.node

/**
 * OpenSSL's verdict as a verify error code, or undefined when the chain verified.
 *
 * - Node: `_handle.verifyError()` returns null, or an Error whose `code` is OpenSSL's.
 * - Deno: `_handle.verifyError()` returns a string: `""` when the chain verified, else the code.
 * - Bun: `_handle` has no `verifyError`; `authorizationError` (public) is set on both sides,
 *   a bare server TLSSocket included (Node sets it only in tls.Server and tls.connect).
 *
 * @internal
 */
export const verifyErrorCode = (
  verifyError: (() => unknown) | undefined,
  authorizationError: unknown
): string | undefined => {
  const value = verifyError !== undefined ? verifyError() : authorizationError
  if (value === null || value === undefined || value === "") return undefined
  if (typeof value === "string") return value
  if (typeof value === "object") {
    const { code, message } = value as { code?: unknown; message?: unknown }
    if (typeof code === "string" && code !== "") return code
    if (typeof message === "string" && message !== "") return message
  }
  return "UNKNOWN"
}

/**
 * Whether a verify error code only says "rejected", not why. Deno 2.9 reports every chain it
 * rejects as `UNABLE_TO_VERIFY_LEAF_SIGNATURE` (an expired or not yet valid leaf, an unknown
 * CA, a client-only EKU, a SHA-1 signature alike; only a self-signed leaf gets
 * `DEPTH_ZERO_SELF_SIGNED_CERT`): read as OpenSSL's code it added `UnknownCa` to an expired
 * chain's flags. The engine reports it as an unspecific verdict instead (`GenericError`, which
 * core keeps only when its own verifier found nothing: fail closed, no wrong flag).
 *
 * @internal
 */
export const unspecificVerifyError = (code: string | undefined): boolean =>
  runtimeName === "deno" && code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE"

/**
 * Whether this runtime's node:tls keeps our write side open when the peer's close_notify
 * arrives over a JS Duplex. Bun (1.4) answers it at once with its own close_notify and ends
 * the Duplex, and drops what is written afterwards (the write callback gets ECANCELED, but
 * `write()` returns true). Over a native TCP socket Bun keeps it open.
 *
 * @internal
 */
export const halfCloseOverDuplex: boolean = runtimeName !== "bun"

/**
 * Whether the engine keeps the peer's TLS 1.3 close_notify from node:tls until our side closed
 * (`closeNotifyGuard.ts`): where node:tls over a JS Duplex would answer it itself (Bun).
 *
 * @internal
 */
export const guardsCloseNotify: boolean = !halfCloseOverDuplex

/**
 * Whether `TLSSocket.exportKeyingMaterial` exists (Deno 2.9 has none).
 *
 * @internal
 */
export const hasExportKeyingMaterial = (socket: object): boolean =>
  typeof (socket as { exportKeyingMaterial?: unknown }).exportKeyingMaterial === "function"

/**
 * Whether `getFinished()` / `getPeerFinished()` return the Finished messages (tls-unique).
 * Node and Bun 1.4 do (Bun's 12-byte verify_data at `secure` / `secureConnect`, over a JS
 * Duplex and a TCP socket alike); Deno returns 32 bytes even for a SHA-384 suite, so not the
 * Finished.
 *
 * @internal
 */
export const reportsFinished: boolean = runtimeName !== "deno"

/**
 * Whether `getSession()` is OpenSSL's SSL_SESSION DER, read for the extended master secret
 * (`[13]` flags). Deno's is a 40-byte blob of its own; Bun's is BoringSSL's encoding, which
 * keeps that bit in `[17]` (`boringsslSessions`).
 *
 * @internal
 */
export const opensslSessions: boolean = runtimeName === "node"

/**
 * Whether `getSession()` is BoringSSL's SSLSession DER (Bun 1.4, both sides, TLS 1.2), whose
 * `[17] BOOLEAN` says whether the extended master secret was used (present and true with it,
 * absent without: checked against gnutls-serv with and without `%NO_SESSION_HASH`).
 *
 * @internal
 */
export const boringsslSessions: boolean = runtimeName === "bun"

/**
 * Whether a client TLSSocket emits its `keylog` lines only after `secureConnect` (Bun 1.4 over a
 * JS Duplex): the engine then reads the handshake's result a turn later, so that the accepted-CA
 * sniffer has the server's handshake secret.
 *
 * @internal
 */
export const keylogAfterSecure: boolean = runtimeName === "bun"

/**
 * Whether a client's TLS 1.3 Finished leaves only once its `secureConnect` listeners returned (node
 * 20: TLSWrap writes what OpenSSL produced after the handshake callback, on both paths): the
 * engine then reads the handshake's result a turn later (`socketEvents.onSecure`), so that the
 * Finished is not held behind our verification and the server takes it in meanwhile. Node only:
 * on Deno 2.9 the server's refusal of our certificate then overtook the report, and the refusal
 * was no longer told as one.
 *
 * @internal
 */
export const finishedAfterSecureListeners: boolean = runtimeName === "node"

/**
 * Whether the engine may hand a TCP transport's own socket to node:tls (the native path). Deno
 * 2.9: a TLSSocket on the socket the transport had been reading stalled (an echo of 1 MiB with
 * half-close never finished; plain node:tls on a fresh socket does not), so Deno keeps the bridge.
 *
 * @internal
 */
export const nativeSocketPath: boolean = runtimeName !== "deno"

/**
 * Whether a TLSSocket made over a `net.Socket` first hands OpenSSL what waits in that socket's
 * own readable buffer (node's `initRead`: "Socket already has some buffered data"), so that
 * bytes pushed back into it (`socket.unshift`) reach the handshake on the native path. Read in
 * node 20's `_tls_wrap.js`; Bun's is not known to, so bytes pushed back keep the bridge there.
 *
 * @internal
 */
export const nativeReadsBufferedInput: boolean = runtimeName === "node"

/**
 * Whether `end()` on a TLSSocket over a JS Duplex may send close_notify ahead of ciphertext of
 * earlier writes still on its way to the Duplex (Deno 2.9): `closeWrite` then waits for writes
 * to settle first.
 *
 * @internal
 */
export const endOvertakesWrites: boolean = runtimeName === "deno"

/**
 * Whether a client learns from its own TLS 1.3 flight whether the server asked for a
 * certificate (Deno 2.9, which logs no keys, so the CertificateRequest cannot be decrypted):
 * Deno's client sends the flight after the ServerHello as one record, its Finished alone, or
 * behind a Certificate message (8 bytes when empty), which a client sends only when asked.
 * A server that refuses a certificate and hangs up without an alert (a Deno server's alert was
 * lost until the bridge kept its last records, `destroysDuplexWithWritesPending`): this is
 * what tells that refusal from any other end (`refusals.ts`).
 *
 * @internal
 */
export const certificateRequestFromFlight: boolean = runtimeName === "deno"

/**
 * Whether the first encrypted record of a TLS 1.3 client's flight (its length field) holds
 * more than its Finished: 4 + the suite's hash length, plus the content type and the 16-byte tag.
 *
 * @internal
 */
export const flightAnswersRequest = (recordLength: number, ciphersuite: string): boolean =>
  recordLength - 17 > 4 + (ciphersuite.includes("SHA384") ? 48 : 32)

/**
 * Whether a server TLSSocket sends every certificate of its context's `ca` in its Certificate
 * message, after its own chain (Deno 2.9; Node sends its chain only, OpenSSL adding the
 * issuers it finds). The engine gives node:tls the client CAs as `ca`, the system store's by
 * default (144 here): the server's flight grew to 170 KB, which a Deno client refuses (a
 * handshake message over 64 KiB: "HandshakePayloadTooLarge"). Deno names them in its
 * CertificateRequest too, and still asks for (and reads) a client certificate with no `ca` at
 * all, reporting `UNABLE_TO_GET_ISSUER_CERT` for it. So a Deno server gets as `ca` its client
 * CAs only when it asks for a certificate and they are at most `serverCaCertificatesBound`
 * bytes; else none (its CertificateRequest then names no CA, and core's verifier alone judges
 * the client's chain: `secureContexts.serverContextCas`).
 *
 * @internal
 */
export const serverSendsCaCertificates: boolean = runtimeName === "deno"

/**
 * The most DER bytes of client CAs a server that sends them after its chain
 * (`serverSendsCaCertificates`) is given: a few CAs, well under the 64 KiB a Deno client takes.
 *
 * @internal
 */
export const serverCaCertificatesBound = 16 * 1024

/**
 * Whether a server TLSSocket that requires a client certificate (`rejectUnauthorized`) fails the
 * handshake itself on a chain its context's `ca` does not verify (Bun 1.4: "self signed
 * certificate in certificate chain" for a client certificate whose CA the server's `clientCas`
 * left out, though its database trusted it). Node and Deno complete the handshake and leave the
 * verdict to the engine.
 *
 * @internal
 */
export const serverRefusesUnverifiedClients: boolean = runtimeName === "bun"

/**
 * Whether bytes a TLSSocket reads before it started can make its own start throw (Deno 2.9): a
 * Deno TLSSocket reads its Duplex at once, in its constructor, but starts a tick later
 * (`_start`, deferred by `nextTick` on a server); when what it read is a broken record,
 * `_handle.start()` fails and destroys the socket synchronously, and the next line of `_start`
 * reads `this._handle._flushEncOut` of the destroyed socket: an uncaught TypeError. So the
 * engine gives it no input until a macrotask after it was made.
 *
 * @internal
 */
export const inputBeforeStartThrows: boolean = runtimeName === "deno"

/** @internal */
export const lacks = (what: string): string => `${runtimeName} ${runtimeVersion}'s node:tls ${what}`

/**
 * Whether a client TLSSocket drops the TLS 1.3 tickets that arrive after its own close_notify
 * (Bun 1.4: BoringSSL ignores a NewSessionTicket once its write side is shut down; OpenSSL keeps
 * it). A client that wrote its request and called `closeWrite` at once, before the server's
 * tickets came (about one round trip after the handshake), got none: every later connection ran
 * a full handshake. The engine's `closeWrite` first waits for the first ticket there, as its
 * `sessions` does, when a `SessionCache` keeps them. A Bun server, for its part, sends its
 * TLS 1.3 tickets only with its first application data or its close_notify (an empty write or
 * `_handle.flush()` sends none; over a JS Duplex and a TCP socket alike): a Bun client that
 * closes before a Bun server wrote anything still gets none.
 *
 * @internal
 */
export const ticketsIgnoredAfterClose: boolean = runtimeName === "bun"

/**
 * Whether a TLSSocket's write callback comes once the bridge's transport write is done, so
 * that the engine's `flush` can wait for it. Node and Deno 2.9 call back after the Duplex's own
 * write callback. Deno hands the record to the Duplex only a microtask after `write()`
 * returned (a `write` is done before that; `flush` waits for the callback). Bun calls back at
 * once, before the Duplex saw the record (its callbacks hung the runtime suites when awaited):
 * there `flush` also waits until the bridge holds no ciphertext, and a sink writes one element
 * at a time.
 *
 * @internal
 */
export const writeCallbackAfterTransport: boolean = runtimeName !== "bun"

/**
 * Whether node:tls destroys its JS Duplex before its last records were written there (Deno 2.9).
 * Deno's TLSWrap drains its output into the Duplex with plain `write()`s from a microtask, so its
 * TLSSocket finishes without waiting for them; once both of its sides are done it destroys
 * itself, and its `close` destroys the Duplex. Its close_notify was lost while it waited for room
 * (a 1-byte-chunk echo over a 256-byte memory pipe stalled at close: the peer never read the
 * end), or before the drain handed it over (raw node:tls: a socket that ends after the peer's
 * close_notify, having written nothing since, never sends one). The bridge waits a macrotask and
 * for the records it holds before such a destroy (`TransportDuplex.keepWritesOnDestroy`), and
 * the engine's close waits for them.
 *
 * @internal
 */
export const destroysDuplexWithWritesPending: boolean = runtimeName === "deno"

/**
 * The TLS 1.3 suites a runtime uses whatever `ciphers` says, or undefined where `ciphers` names
 * them (Node: OpenSSL's `ciphersuites`). Bun 1.4 (BoringSSL) and Deno 2.9 (rustls) ignore TLS 1.3
 * names in `ciphers` on both sides: `TLS_AES_256_GCM_SHA384` alone, or
 * `TLS_CHACHA20_POLY1305_SHA256` on both ends, still negotiated Bun's `TLS_AES_128_GCM_SHA256`
 * (Deno's `TLS_AES_256_GCM_SHA384`).
 *
 * @internal
 */
export const fixedTls13Suites: ReadonlyArray<string> | undefined = runtimeName === "node"
  ? undefined
  : ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

/**
 * Whether `ciphers` is ignored for TLS 1.2 suites too (Deno 2.9: `ECDHE-ECDSA-AES128-GCM-SHA256`
 * or `ECDHE-ECDSA-CHACHA20-POLY1305` alone on both sides, or a Deno client or server against an
 * openssl peer preferring another suite, all negotiated `ECDHE-ECDSA-AES256-GCM-SHA384`). Node
 * and Bun honour TLS 1.2 names.
 *
 * @internal
 */
export const ignoresTls12Ciphers: boolean = runtimeName === "deno"

/**
 * Why a `ciphers` setting cannot be honoured here, or undefined: it names TLS 1.3 suites that
 * leave out some of a runtime's fixed ones while TLS 1.3 may be negotiated, or (Deno) any TLS 1.2
 * suite while TLS 1.2 may be (a restriction that would be silently ignored: refused instead,
 * fail closed).
 *
 * @internal
 */
export const unhonouredCiphers = (
  ciphers: string,
  maxVersion: string | undefined,
  minVersion: string = "TLSv1.2"
): string | undefined => {
  const names = ciphers.split(/[:,\s]+/).filter((name) => name !== "")
  if (ignoresTls12Ciphers && minVersion !== "TLSv1.3" && names.some((name) => !name.startsWith("TLS_"))) {
    return lacks(
      "ignores `ciphers` for TLS 1.2 suites too (its own choice is negotiated): leave them out, " +
        "or set minVersion TLSv1.3"
    )
  }
  if (fixedTls13Suites === undefined || (maxVersion !== undefined && maxVersion !== "TLSv1.3")) return undefined
  const named = names.filter((name) => name.startsWith("TLS_"))
  if (named.length === 0 || fixedTls13Suites.every((suite) => named.includes(suite))) return undefined
  return lacks(
    `ignores TLS 1.3 suites in \`ciphers\` (its TLS 1.3 suites are fixed: ${fixedTls13Suites.join(", ")}): ` +
      (ignoresTls12Ciphers ? "name all three" : "limit maxVersion to TLSv1.2, or name all three")
  )
}
