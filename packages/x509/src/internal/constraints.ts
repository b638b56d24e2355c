/**
 * Host-name rules (RFC 6125 identity, DNS syntax) and RFC 5280 name constraints.
 *
 * @internal
 */
import { getPublicSuffix } from "tldts"
import * as Name from "./name.js"
import type { Subtree } from "./parse.js"

/**
 * Whether `name` is a public suffix (ICANN or private section of the Public Suffix List),
 * so that a wildcard directly over it (`*.co.uk`, `*.s3.amazonaws.com`) names no one.
 *
 * @internal
 */
export const isPublicSuffix = (name: string): boolean => {
  const n = name.toLowerCase()
  if (!n.includes(".")) return true
  try {
    return getPublicSuffix(n, { allowPrivateDomains: true, validateHostname: false }) === n
  } catch {
    return true
  }
}

const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** A syntactically valid DNS name (LDH labels, lower-cased first), no wildcard. @internal */
export const isDnsName = (name: string): boolean => {
  if (name.length === 0 || name.length > 253) return false
  const labels = name.toLowerCase().split(".")
  return labels.every((l) => label.test(l))
}

/** A valid SAN dNSName: a DNS name, or `*.` followed by one (at least two labels). @internal */
export const isSanDnsName = (name: string): boolean => {
  if (name.startsWith("*.")) {
    const rest = name.slice(2)
    return isDnsName(rest) && rest.includes(".")
  }
  return isDnsName(name) && Name.parseIp(name) === undefined
}

const normalizeHost = (host: string): string => (host.endsWith(".") ? host.slice(0, -1) : host).toLowerCase()

/** RFC 6125 matching of one presented DNS identifier against a reference host. @internal */
export const matchesDns = (presented: string, reference: string): boolean => {
  const p = normalizeHost(presented)
  const r = normalizeHost(reference)
  if (p === r) return !p.includes("*")
  if (!p.startsWith("*.")) return false
  const suffix = p.slice(1) // ".example.com"
  if (suffix.includes("*")) return false
  if (!r.endsWith(suffix)) return false
  const first = r.slice(0, r.length - suffix.length)
  return first.length > 0 && !first.includes(".") && !isPublicSuffix(suffix.slice(1))
}

/** Whether `name` equals `constraint` or is below it. */
const dnsWithin = (name: string, constraint: string): boolean => {
  if (constraint === "") return true
  return name === constraint || name.endsWith(`.${constraint}`)
}

const parent = (name: string): string | undefined => {
  const i = name.indexOf(".")
  return i < 0 ? undefined : name.slice(i + 1)
}

const ipWithin = (ip: Uint8Array, constraint: Uint8Array): boolean => {
  if (constraint.length !== ip.length * 2) return false
  for (let i = 0; i < ip.length; i++) {
    const mask = constraint[ip.length + i]
    if ((ip[i] & mask) !== (constraint[i] & mask)) return false
  }
  return true
}

const normalizeValue = Name.prepare

const dnWithin = (name: Name.ParsedName, constraint: Name.ParsedName): boolean => {
  if (constraint.rdns.length > name.rdns.length) return false
  for (let i = 0; i < constraint.rdns.length; i++) {
    const a = constraint.rdns[i]
    const b = name.rdns[i]
    if (a.length !== b.length) return false
    for (const attr of a) {
      if (!b.some((other) => other.oid === attr.oid && normalizeValue(other.value) === normalizeValue(attr.value))) {
        return false
      }
    }
  }
  return true
}

/** A valid rfc822Name (one `@`, non-empty local part, a DNS host). @internal */
export const isEmail = (email: string): boolean => {
  const parts = email.split("@")
  return parts.length === 2 && parts[0].length > 0 && isDnsName(parts[1])
}

const emailWithin = (email: string, constraint: string): boolean => {
  const at = email.lastIndexOf("@")
  const local = email.slice(0, at)
  const host = email.slice(at + 1).toLowerCase()
  if (constraint.includes("@")) {
    const cat = constraint.lastIndexOf("@")
    return local === constraint.slice(0, cat) && host === constraint.slice(cat + 1).toLowerCase()
  }
  const c = constraint.toLowerCase()
  if (c.startsWith(".")) return host.endsWith(c)
  return host === c
}

const contiguousMask = (mask: Uint8Array): boolean => {
  let seenZero = false
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1
      if (one && seenZero) return false
      if (!one) seenZero = true
    }
  }
  return true
}

/** Why a subtree is malformed, or `undefined`. @internal */
export const subtreeProblem = (subtree: Subtree): string | undefined => {
  const base = subtree.base
  switch (base.kind) {
    case "dns":
      return base.value === "" || isDnsName(base.value) ? undefined : `invalid dNSName constraint ${base.value}`
    case "ip":
      return (base.bytes.length === 8 || base.bytes.length === 32) &&
          contiguousMask(base.bytes.subarray(base.bytes.length / 2))
        ? undefined
        : "invalid iPAddress constraint"
    case "uri": {
      const v = base.value.startsWith(".") ? base.value.slice(1) : base.value
      return isDnsName(v) ? undefined : `invalid uniformResourceIdentifier constraint ${base.value}`
    }
    case "email": {
      const v = base.value
      if (v.includes("@")) return isEmail(v) ? undefined : `invalid rfc822Name constraint ${v}`
      const host = v.startsWith(".") ? v.slice(1) : v
      return isDnsName(host) ? undefined : `invalid rfc822Name constraint ${v}`
    }
    default:
      return undefined
  }
}

/** The host of a URI with an authority (`scheme://host...`), lower-cased; `undefined` otherwise. */
const uriHost = (uri: string): string | undefined => {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri)
  if (m === null || m[1] === "") return undefined
  const host = m[1].toLowerCase()
  if (host.startsWith("[") || Name.parseIp(host) !== undefined) return undefined
  return host.endsWith(".") ? host.slice(0, -1) : host
}

const kindOf = (name: Name.GeneralName): string => name.kind === "other" ? `other:${name.tag}` : name.kind

const within = (name: Name.GeneralName, base: Name.GeneralName, excluded: boolean): boolean => {
  switch (name.kind) {
    case "dns": {
      if (base.kind !== "dns") return false
      const n = name.value.toLowerCase()
      const c = base.value.toLowerCase()
      if (n.startsWith("*.")) {
        const x = n.slice(2)
        if (dnsWithin(x, c)) return true
        return excluded && parent(c) === x
      }
      return dnsWithin(n, c)
    }
    case "ip":
      return base.kind === "ip" && ipWithin(name.bytes, base.bytes)
    case "email":
      return base.kind === "email" && emailWithin(name.value, base.value)
    case "dn":
      return base.kind === "dn" && dnWithin(name.name, base.name)
    case "uri": {
      if (base.kind !== "uri") return false
      // RFC 5280 4.2.1.10: the constraint applies to the host part of the URI; a host
      // constraint names one host, a leading period every host below a domain
      const host = uriHost(name.value)
      if (host === undefined) return excluded
      const c = base.value.toLowerCase()
      if (c.startsWith(".")) return host.endsWith(c)
      return host === c
    }
    default:
      // other forms are not evaluated: a constraint of the same kind fails closed
      return excluded ? kindOf(base) === kindOf(name) : false
  }
}

/** @internal */
export const MaxConstraintChecks = 1 << 20

/**
 * Checks `names` against one CA's constraints: `undefined` when they pass, else why not.
 *
 * @internal
 */
export const checkNames = (
  names: ReadonlyArray<Name.GeneralName>,
  constraints: {
    readonly permitted: ReadonlyArray<Subtree> | undefined
    readonly excluded: ReadonlyArray<Subtree> | undefined
  }
): string | undefined => {
  const permitted = constraints.permitted ?? []
  const excluded = constraints.excluded ?? []
  if (names.length * (permitted.length + excluded.length) > MaxConstraintChecks) {
    return "too many names to check against the name constraints"
  }
  for (const name of names) {
    const kind = kindOf(name)
    for (const subtree of excluded) {
      if (within(name, subtree.base, true)) return `name excluded by a name constraint`
    }
    const sameKind = permitted.filter((subtree) => kindOf(subtree.base) === kind)
    if (sameKind.length > 0 && !sameKind.some((subtree) => within(name, subtree.base, false))) {
      return `name not permitted by the name constraints`
    }
  }
  return undefined
}
