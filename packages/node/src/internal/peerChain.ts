/**
 * The peer's certificate chain, as node:tls hands it over: read once at `secure` /
 * `secureConnect` (`readPeerChain`), the fields `tls.checkServerIdentity` reads
 * (`identityFields`), and node's own read for its identity check kept off our sockets until
 * then (`skipNodesPeerCertificateRead`, `restorePeerCertificateRead`). Public node APIs only.
 *
 * @internal
 */
import type { X509Certificate } from "node:crypto"
import * as net from "node:net"
import * as tls from "node:tls"

/**
 * The peer's chain as it arrived, leaf first, read once at `secure`/`secureConnect` through
 * `getPeerX509Certificate()` (its `.issuerCertificate` links, DER from `.raw`): no JS object
 * per certificate field, and no issuer looked up in the trust store (which
 * `getPeerCertificate(true)` appends). On a client, node 20 hands the chain over: a second read
 * returns nothing, so nothing else may ask for it.
 */
export const readPeerChain = (
  socket: tls.TLSSocket
): { readonly leaf: X509Certificate | undefined; readonly chain: Array<Uint8Array> } => {
  const leaf = socket.getPeerX509Certificate()
  const chain: Array<Uint8Array> = []
  const seen: Array<Buffer> = []
  let certificate: X509Certificate | undefined = leaf
  // (a certificate seen before ends the walk, a self-signed root's link to itself: told by its
  // bytes, which the chain needs anyway, not by a SHA-256 of each certificate)
  while (certificate !== undefined && chain.length < MAX_PEER_CHAIN) {
    const raw = certificate.raw
    if (seen.some((der) => der.equals(raw))) break
    seen.push(raw)
    chain.push(new Uint8Array(raw))
    certificate = certificate.issuerCertificate
  }
  return { leaf, chain }
}

/** More certificates than any real chain carries (node's own legacy walk has no bound). */
const MAX_PEER_CHAIN = 32

/**
 * What `tls.checkServerIdentity` reads of a certificate (its subject's CN and the SAN text).
 * The subject is read only when the check may fall back to its CN: node's check reads the CN
 * only when the SAN names no DNS name (and never for an IP address). A SAN text that merely
 * seems to name one (inside a quoted value) leaves the CN out: the check can then only fail,
 * never pass more than node's own would.
 */
export const identityFields = (leaf: X509Certificate, identity: string): tls.PeerCertificate => {
  const subjectaltname = leaf.subjectAltName
  const namesDns = subjectaltname !== undefined &&
    (subjectaltname.startsWith("DNS:") || subjectaltname.includes(", DNS:"))
  const subject: Record<string, string | Array<string>> = {}
  if (namesDns || net.isIP(identity) !== 0) {
    return { subject, subjectaltname } as unknown as tls.PeerCertificate
  }
  for (const line of leaf.subject.split("\n")) {
    const at = line.indexOf("=")
    if (at <= 0) continue
    const key = line.slice(0, at)
    const value = line.slice(at + 1)
    const previous = subject[key]
    subject[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value]
  }
  return { subject, subjectaltname } as unknown as tls.PeerCertificate
}

/**
 * node:tls's client reads `getPeerCertificate(true)` before `secureConnect` for
 * `checkServerIdentity` (a JS object per certificate field and a trust-store lookup: about a
 * third of a millisecond per handshake), which ours ignores: the engine reads the chain once
 * at `secureConnect`. An own property shadows the method on our socket until then.
 */
export const skipNodesPeerCertificateRead = (socket: tls.TLSSocket): void => {
  // (a plain store of one function for every socket: `Object.defineProperty` is a call into
  // the runtime, and a function made per socket would be one more closure per connection)
  ;(socket as { getPeerCertificate: unknown }).getPeerCertificate = noPeerCertificate
}

/** What node's own identity check reads until the engine restores the method. */
const noPeerCertificate = () => ({})

/**
 * The own property is overwritten with the prototype's method, not deleted: deleting a property
 * added before others turns the socket into a dictionary-mode object, and every later property
 * read of node's streams on it is slower (about 0.04 ms per handshake for the delete alone).
 */
export const restorePeerCertificateRead = (socket: tls.TLSSocket): void => {
  if (Object.prototype.hasOwnProperty.call(socket, "getPeerCertificate")) {
    ;(socket as { getPeerCertificate: unknown }).getPeerCertificate = tls.TLSSocket.prototype.getPeerCertificate
  }
}
