/**
 * Certificate policy processing, RFC 5280 §6.1.2 (a, d, e, f), §6.1.3 (d)-(f),
 * §6.1.4 (a), (b), (h)-(j) and §6.1.5 (a), (b), (g), with the valid_policy_tree.
 *
 * @internal
 */
import type { X509 } from "./parse.js"

const AnyPolicy = "2.5.29.32.0"

/** Bound on the tree (hostile certificates can make it grow exponentially). */
const MaxNodes = 1000

interface Node {
  readonly validPolicy: string
  expectedPolicySet: Set<string>
  readonly parent: Node | undefined
  readonly children: Array<Node>
  readonly depth: number
}

/** @internal */
export interface PolicyInputs {
  readonly initialPolicySet: ReadonlyArray<string>
  readonly requireExplicitPolicy: boolean
  readonly inhibitPolicyMapping: boolean
  readonly inhibitAnyPolicy: boolean
}

/** @internal */
export type PolicyOutcome =
  | { readonly _tag: "Valid"; readonly validPolicySet: ReadonlyArray<string> }
  | { readonly _tag: "Invalid"; readonly certificate: number; readonly reason: string }

const selfIssued = (x: X509) => x.subject.key === x.issuer.key

/**
 * Runs the policy part of the path validation over `certs`, ordered from the certificate
 * issued by the trust anchor (1) down to the target (n). `position(i)` maps the RFC index
 * back to the caller's (0 = leaf).
 *
 * @internal
 */
export const process = (certs: ReadonlyArray<X509>, inputs: PolicyInputs): PolicyOutcome => {
  const n = certs.length
  const position = (i: number) => n - i
  let nodes = 1
  let root: Node | undefined = {
    validPolicy: AnyPolicy,
    expectedPolicySet: new Set([AnyPolicy]),
    parent: undefined,
    children: [],
    depth: 0
  }
  let explicitPolicy = inputs.requireExplicitPolicy ? 0 : n + 1
  let inhibitAnyPolicy = inputs.inhibitAnyPolicy ? 0 : n + 1
  let policyMapping = inputs.inhibitPolicyMapping ? 0 : n + 1

  const atDepth = (depth: number): Array<Node> => {
    const out: Array<Node> = []
    const walk = (node: Node) => {
      if (node.depth === depth) out.push(node)
      else for (const child of node.children) walk(child)
    }
    if (root !== undefined) walk(root)
    return out
  }
  const remove = (node: Node) => {
    if (node.parent === undefined) root = undefined
    else node.parent.children.splice(node.parent.children.indexOf(node), 1)
  }
  /** Deletes childless nodes of depth < `depth`, bottom up. */
  const prune = (depth: number) => {
    for (let d = depth - 1; d >= 0 && root !== undefined; d--) {
      for (const node of atDepth(d)) if (node.children.length === 0) remove(node)
    }
  }
  const addChild = (parent: Node, validPolicy: string, expected: Iterable<string>): boolean => {
    if (++nodes > MaxNodes) return false
    parent.children.push({
      validPolicy,
      expectedPolicySet: new Set(expected),
      parent,
      children: [],
      depth: parent.depth + 1
    })
    return true
  }

  for (let i = 1; i <= n; i++) {
    const x = certs[i - 1]
    // (d) certificate policies
    if (x.policies !== undefined && root !== undefined) {
      const parents = atDepth(i - 1)
      for (const policy of x.policies) {
        if (policy === AnyPolicy) continue
        const matching = parents.filter((node) => node.expectedPolicySet.has(policy))
        const targets = matching.length > 0 ? matching : parents.filter((node) => node.validPolicy === AnyPolicy)
        for (const parent of targets) {
          if (!addChild(parent, policy, [policy])) {
            return { _tag: "Invalid", certificate: position(i), reason: "policy tree too large" }
          }
        }
      }
      if (x.policies.includes(AnyPolicy) && (inhibitAnyPolicy > 0 || (i < n && selfIssued(x)))) {
        for (const parent of parents) {
          for (const expected of parent.expectedPolicySet) {
            if (parent.children.some((child) => child.validPolicy === expected)) continue
            if (!addChild(parent, expected, [expected])) {
              return { _tag: "Invalid", certificate: position(i), reason: "policy tree too large" }
            }
          }
        }
      }
      prune(i)
    } else {
      // (e) no certificatePolicies: the tree becomes NULL
      root = undefined
    }
    // (f)
    if (explicitPolicy <= 0 && root === undefined) {
      return { _tag: "Invalid", certificate: position(i), reason: "no valid policy and an explicit policy is required" }
    }
    if (i === n) break
    // 6.1.4 (a) is a parse problem (anyPolicy in policyMappings); (b)
    if (x.policyMappings !== undefined && root !== undefined) {
      const mapped = new Map<string, Array<string>>()
      for (const [issuerPolicy, subjectPolicy] of x.policyMappings) {
        const list = mapped.get(issuerPolicy)
        if (list === undefined) mapped.set(issuerPolicy, [subjectPolicy])
        else if (!list.includes(subjectPolicy)) list.push(subjectPolicy)
      }
      for (const [issuerPolicy, subjectPolicies] of mapped) {
        const level = atDepth(i)
        const hits = level.filter((node) => node.validPolicy === issuerPolicy)
        if (policyMapping > 0) {
          if (hits.length > 0) { for (const node of hits) node.expectedPolicySet = new Set(subjectPolicies) }
          else {
            const any = level.find((node) => node.validPolicy === AnyPolicy)
            if (any !== undefined && any.parent !== undefined) {
              if (!addChild(any.parent, issuerPolicy, subjectPolicies)) {
                return { _tag: "Invalid", certificate: position(i), reason: "policy tree too large" }
              }
            }
          }
        } else {
          for (const node of hits) remove(node)
          prune(i)
        }
      }
    }
    // (h)
    if (!selfIssued(x)) {
      if (explicitPolicy > 0) explicitPolicy--
      if (policyMapping > 0) policyMapping--
      if (inhibitAnyPolicy > 0) inhibitAnyPolicy--
    }
    // (i), (j)
    const pc = x.policyConstraints
    if (pc?.requireExplicitPolicy !== undefined && pc.requireExplicitPolicy < explicitPolicy) {
      explicitPolicy = pc.requireExplicitPolicy
    }
    if (pc?.inhibitPolicyMapping !== undefined && pc.inhibitPolicyMapping < policyMapping) {
      policyMapping = pc.inhibitPolicyMapping
    }
    if (x.inhibitAnyPolicy !== undefined && x.inhibitAnyPolicy < inhibitAnyPolicy) {
      inhibitAnyPolicy = x.inhibitAnyPolicy
    }
  }
  // 6.1.5 (a), (b)
  const leaf = certs[n - 1]
  if (explicitPolicy > 0) explicitPolicy--
  if (leaf?.policyConstraints?.requireExplicitPolicy === 0) explicitPolicy = 0
  // (g) the intersection with the user-initial-policy-set
  const initial = new Set(inputs.initialPolicySet)
  if (root !== undefined && !initial.has(AnyPolicy)) {
    const validNodeSet: Array<Node> = []
    const walk = (node: Node) => {
      for (const child of node.children) {
        if (node.validPolicy === AnyPolicy) validNodeSet.push(child)
        walk(child)
      }
    }
    walk(root)
    for (const node of validNodeSet) {
      if (node.validPolicy !== AnyPolicy && !initial.has(node.validPolicy)) remove(node)
    }
    const anyLeaf = atDepth(n).find((node) => node.validPolicy === AnyPolicy)
    if (anyLeaf !== undefined && anyLeaf.parent !== undefined) {
      const present = new Set(validNodeSet.map((node) => node.validPolicy))
      for (const policy of initial) {
        if (!present.has(policy)) addChild(anyLeaf.parent, policy, [policy])
      }
      remove(anyLeaf)
    }
    prune(n)
  }
  if (explicitPolicy <= 0 && root === undefined) {
    return { _tag: "Invalid", certificate: 0, reason: "no valid policy and an explicit policy is required" }
  }
  // each leaf-depth node stands for the policy of its top-most ancestor that is not anyPolicy:
  // the policy in the user's (the trust anchor's) domain, before any mapping
  const userPolicy = (node: Node): string => {
    let out = node.validPolicy
    for (let at: Node | undefined = node; at !== undefined; at = at.parent) {
      if (at.validPolicy !== AnyPolicy) out = at.validPolicy
    }
    return out
  }
  const validPolicySet = root === undefined ? [] : [...new Set(atDepth(n).map(userPolicy))]
  return { _tag: "Valid", validPolicySet }
}
