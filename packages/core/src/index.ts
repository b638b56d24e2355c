/**
 * @since 0.1.0
 */

/**
 * `AcceptCertificate`, Gio's `accept-certificate` signal as a policy service: an Effect
 * that decides whether the peer's certificate is accepted, given the chain, the
 * **complete** verification flags, the expected identity and the side.
 *
 * @since 0.1.0
 */
export * as AcceptCertificate from "./AcceptCertificate.js"

/**
 * X.509 certificates, Gio's `GTlsCertificate` (the certificate half; the key half is
 * `PrivateKey` and the pair is `CertifiedKey`). This module is `@effect-tls/x509`'s
 * `Certificate`, re-exported.
 *
 * @since 0.1.0
 */
export * as Certificate from "./Certificate.js"

/**
 * The problems found with a certificate chain, Gio's `GTlsCertificateFlags`. This module is
 * `@effect-tls/x509`'s `CertificateFlags`, re-exported.
 *
 * @since 0.1.0
 */
export * as CertificateFlags from "./CertificateFlags.js"

/**
 * A certificate chain together with the private key of its leaf: what a server
 * presents, or a client presents when asked (Gio's `GTlsCertificate` with a key).
 *
 * @since 0.1.0
 */
export * as CertifiedKey from "./CertifiedKey.js"

/**
 * Channel binding, Gio's `g_tls_connection_get_channel_binding_data`: bytes that name one TLS
 * connection, so that an authentication run inside it (SCRAM-PLUS, GSS-API, HTTP token
 * binding, ...) can prove it happened over this very connection and not through a
 * man-in-the-middle. `conn.channelBinding(type)` runs the handshake first (like `read`), and
 * both ends of a connection compute the same bytes.
 *
 * @since 0.1.0
 */
export * as ChannelBinding from "./ChannelBinding.js"

/**
 * A condition to wait on, for code that bridges callback-driven state (a Node stream, a
 * buffer, a TLS engine) into Effect: state changes in callbacks, which call `notify`; an
 * Effect that needs the state to be in some shape calls `await` with a check, and the check
 * runs again on every `notify` until it gives a result.
 *
 * @since 0.1.0
 */
export * as Condition from "./Condition.js"

/**
 * Credentials that change at run time: a server's certificate and key (`Credentials`) and a
 * client's trust anchors (`Trust`), each held in a `SubscriptionRef`. Give one where a
 * `CertifiedKey` (`ServerOptions.certificate`) or a database (`database`) is expected: every
 * new handshake reads the current value, while live connections keep the ones they started
 * with. `update` validates a replacement first (the key matches the leaf, the leaf is valid at
 * the `Clock`'s now) and refuses a bad one with `CredentialsError`, keeping the old in place.
 *
 * @since 0.1.0
 */
export * as Credentials from "./Credentials.js"

/**
 * Certificate revocation lists (RFC 5280 section 5), consulted by `TlsDatabase` to flag
 * revoked certificates (`CertificateFlags` `Revoked`). This module is `@effect-tls/x509`'s
 * `Crl`, re-exported.
 *
 * @since 0.1.0
 */
export * as Crl from "./Crl.js"

/**
 * What a completed handshake negotiated: Gio's `get_protocol_version`,
 * `get_ciphersuite_name`, `get_negotiated_protocol`, `get_peer_certificate`,
 * `get_peer_certificate_errors`, and the client's `get_accepted_cas`, in one value.
 *
 * @since 0.1.0
 */
export * as HandshakeInfo from "./HandshakeInfo.js"

/**
 * `KeyLog`: where an engine sends the TLS secrets of each connection, one NSS key-log line at
 * a time (`CLIENT_RANDOM ...` for TLS 1.2, `CLIENT_HANDSHAKE_TRAFFIC_SECRET ...` and friends
 * for TLS 1.3), the `SSLKEYLOGFILE` format that Wireshark and tshark read to decrypt a capture.
 *
 * @since 0.1.0
 */
export * as KeyLog from "./KeyLog.js"

/**
 * Interop with `@effect/platform`'s `Socket`: a TLS connection as a `Socket`, any `Socket` as
 * a `Transport`, so the rest of the Effect ecosystem runs over TLS unchanged.
 *
 * @since 0.1.0
 */
export * as PlatformSocket from "./PlatformSocket.js"

/**
 * Private keys: PKCS#8 (also encrypted with PBES2), and the legacy `RSA PRIVATE KEY` /
 * `EC PRIVATE KEY` forms, from `@effect-tls/x509`. The key material is `Redacted`. Here
 * `fromPem` adds the prompting variant: the password of an encrypted key comes from the
 * caller or else from the `TlsInteraction` service; a wrong one is a typed
 * `TlsBadCertificatePasswordError`. (`@effect-tls/x509`'s own `fromPem` is pure.)
 *
 * @since 0.1.0
 */
export * as PrivateKey from "./PrivateKey.js"

/**
 * TLS protocol versions. effect-tls never goes below TLS 1.2 unless `minVersion`
 * says so explicitly.
 *
 * @since 0.1.0
 */
export * as ProtocolVersion from "./ProtocolVersion.js"

/**
 * `SessionCache`: where clients keep TLS sessions for resumption (Gio's backend session
 * cache and `copy_session_state`).
 *
 * @since 0.1.0
 */
export * as SessionCache from "./SessionCache.js"

/**
 * STARTTLS: upgrading a transport that has carried plaintext (SMTP, IMAP, POP3, XMPP, LDAP,
 * PostgreSQL) to TLS, without the classic command injection (CVE-2011-0411 and its family).
 *
 * @since 0.1.0
 */
export * as StartTls from "./StartTls.js"

/**
 * Session ticket keys shared by several server processes, rotatable: a ticket issued by any
 * process holding the keys resumes on any other. Keys are 48 random bytes each (OpenSSL's
 * layout: 16 bytes of key name, 16 of HMAC key, 16 of AES key), held as `Redacted`. New
 * tickets are issued under `current`; tickets under `previous` are still accepted (a server
 * picks the key by the ticket's key name in the ClientHello). `rotate` makes the current key
 * the previous one; after two rotations a ticket issued before them no longer resumes.
 *
 * @since 0.1.0
 */
export * as TicketKeys from "./TicketKeys.js"

/**
 * `TlsBackend`, Gio's `GTlsBackend`: the engine that runs the TLS protocol over a
 * `Transport`. Core defines the interface; `@effect-tls/node` provides one built on
 * node:tls (OpenSSL). An engine only speaks TLS: certificate verification policy, the
 * handshake's memoisation and timeouts live in core (`TlsClient`, `TlsServer`), so
 * every engine fails closed the same way.
 *
 * @since 0.1.0
 */
export * as TlsBackend from "./TlsBackend.js"

/**
 * The client side of a TLS connection, Gio's `GTlsClientConnection`.
 *
 * @since 0.1.0
 */
export * as TlsClient from "./TlsClient.js"

/**
 * `TlsConnection`, Gio's `GTlsConnection`: a TLS connection over a `Transport`, made by
 * `TlsClient.make` or `TlsServer.make` as a scoped resource.
 *
 * @since 0.1.0
 */
export * as TlsConnection from "./TlsConnection.js"

/**
 * `TlsDatabase`, Gio's `GTlsDatabase`: the trust anchors (and known intermediates and
 * CRLs) against which peer chains are verified, and the verifier itself.
 *
 * @since 0.1.0
 */
export * as TlsDatabase from "./TlsDatabase.js"

/**
 * The typed failures of TLS connections: one for each of Gio's `GTlsError` codes, plus
 * transport failures and timeouts. Every error has a `reason` (the Gio code), a readable
 * `message` and, where there is one, a `cause`.
 *
 * @since 0.1.0
 */
export * as TlsError from "./TlsError.js"

/**
 * `TlsInteraction`, Gio's `GTlsInteraction`: how the library asks the user (or the
 * program) for what it cannot know: the password of an encrypted private key, and a
 * client certificate when a server asks for one.
 *
 * @since 0.1.0
 */
export * as TlsInteraction from "./TlsInteraction.js"

/**
 * The schemas every public options object is checked against before anything is opened:
 * `TlsClient` and `TlsServer` options, and the pieces transports and the testkit reuse
 * (durations, ALPN names, ports, host names). A value that does not fit fails with
 * `TlsConfigError`, naming the field and saying why; it never throws, and it never reaches
 * the engine (node:tls aborts the process on an empty ALPN name).
 *
 * @since 0.1.0
 */
export * as TlsOptions from "./TlsOptions.js"

/**
 * The metrics every TLS connection records through Effect's `Metric` (read them with
 * `Metric.value` / `Metric.snapshot`, or export them with `@effect/opentelemetry`):
 * handshake durations and outcomes, failure reasons, bytes, open connections, the
 * resumption ratio, and the days left on each certificate a server presents.
 *
 * @since 0.1.0
 */
export * as TlsMetrics from "./TlsMetrics.js"

/**
 * The server side of a TLS connection, Gio's `GTlsServerConnection`.
 *
 * @since 0.1.0
 */
export * as TlsServer from "./TlsServer.js"

/**
 * A `Transport` is the pluggable byte pipe a TLS connection runs over: a TCP
 * socket, an in-memory pair, a WebSocket, anything that moves bytes both ways.
 *
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"

/**
 * A `TransportServer` accepts transports: the listening half of a `Transport` backend (a TCP
 * listener in `@effect-tls/node`, an in-memory one in the testkit). `TlsServer.makeServer`
 * serves TLS over any of them.
 *
 * @since 0.1.0
 */
export * as TransportServer from "./TransportServer.js"
