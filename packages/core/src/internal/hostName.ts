/**
 * Telling host names from IP address literals, for SNI (host names only, RFC 6066 §3) and
 * the identity check.
 *
 * @internal
 */

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/**
 * Whether `host` is an IP address literal: dotted IPv4, anything with a colon (IPv6, with or
 * without brackets or a `%zone`), or a name whose last label is numeric (`127.1`, `0x7f.1`:
 * resolvers read those as IPv4, and no DNS name ends in a numeric label).
 *
 * @internal
 */
export const isIpAddress = (host: string): boolean => {
  const h = host.endsWith(".") ? host.slice(0, -1) : host
  if (h.includes(":") || (h.startsWith("[") && h.endsWith("]"))) return true
  if (ipv4.test(h)) return true
  const last = h.slice(h.lastIndexOf(".") + 1)
  return /^(\d+|0x[0-9a-f]*)$/i.test(last)
}

/**
 * The identity to check a certificate against: brackets and an IPv6 zone removed
 * (`[fe80::1%eth0]` → `fe80::1`: a certificate's IP SAN carries no zone), a DNS name's
 * trailing dot removed.
 *
 * @internal
 */
export const identityOf = (host: string): string => {
  let h = host
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1)
  if (h.includes(":")) {
    const zone = h.indexOf("%")
    return zone >= 0 ? h.slice(0, zone) : h
  }
  return h.endsWith(".") ? h.slice(0, -1) : h
}

/**
 * The SNI for `host`: the host name without its trailing dot, none for an IP address.
 *
 * @internal
 */
export const serverNameOf = (host: string): string | undefined => isIpAddress(host) ? undefined : identityOf(host)
