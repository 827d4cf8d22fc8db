/**
 * The handshake of a WebSocket link: both nodes prove they hold the cluster
 * secret, and that they run the same cluster, before either accepts a frame.
 *
 * The lower node id dials the higher one (one link per pair, so two nodes
 * dialling each other at once cannot make two links). The messages are text
 * WebSocket messages, which keeps them apart from frames (always binary):
 *
 *   dialer  → listener  hello     { from, to, nonce: nD, shape }
 *   listener → dialer   challenge { nonce: nL, proof: HMAC(secret, "roam-v1:L>D:" + nD) }
 *   dialer  → listener  proof     { proof: HMAC(secret, "roam-v1:D>L:" + nL) }
 *   listener → dialer   ready
 *
 * Each proof is an HMAC-SHA256 (Web Crypto) over a fresh 32-byte random nonce
 * chosen by the other side, so a recorded handshake cannot be replayed. The
 * proof names the prover and the verifier in that order, and a listener only
 * accepts dialers with a lower id, so a proof a node gives as listener can
 * never be passed off as one it gives as dialer (no reflection). Over plain
 * `ws://` an attacker on the path can still relay a handshake and then inject
 * frames: use `wss://` on a network you do not trust.
 *
 * `shape` describes the cluster the dialer runs (its tables and policy,
 * `clusterShape`): a listener that runs another refuses it, naming both,
 * rather than link nodes that would read each other's frames wrongly.
 *
 * After `ready` the only text messages allowed are the heartbeat `beat` and
 * `bye`, which a closing node sends (see `ws_transport.ts`).
 */

const PROTOCOL = "roam-v1"
const NONCE_BYTES = 32
/** Longest control message accepted; real ones are under 500 bytes. */
export const CONTROL_CHARS_MAX = 768
/** Longest cluster shape a hello carries (`clusterShape` shortens longer ones). */
export const SHAPE_CHARS_MAX = 256

export type ControlMessage =
  | {
    readonly t: "hello"
    readonly from: number
    readonly to: number
    readonly nonce: string
    readonly shape: string
  }
  | { readonly t: "challenge"; readonly nonce: string; readonly proof: string }
  | { readonly t: "proof"; readonly proof: string }
  | { readonly t: "ready" }
  | { readonly t: "beat" }
  | { readonly t: "bye" }

const encoder = new TextEncoder()

/** The secret as an HMAC-SHA256 key; an empty secret is refused. */
export async function importSecret(secret: string): Promise<CryptoKey> {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new RangeError("the cluster secret must be a non-empty string")
  }
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  )
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

function toHex(bytes: Uint8Array): string {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]]
  return out
}

function fromHex(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) return undefined
  const out = new Uint8Array(text.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16)
  return out
}

/**
 * A fresh nonce. It must be unpredictable, not reproducible, so it comes from
 * the platform's cryptographic generator rather than roam's seeded Random.
 */
export function newNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)))
}

const proofInput = (prover: number, verifier: number, nonce: string) =>
  encoder.encode(`${PROTOCOL}:${prover}>${verifier}:${nonce}`)

/** Node `prover`'s proof, for node `verifier`, over the verifier's nonce. */
export async function prove(
  key: CryptoKey,
  ids: { prover: number; verifier: number },
  nonce: string,
): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, proofInput(ids.prover, ids.verifier, nonce))
  return toHex(new Uint8Array(mac))
}

/** Whether `proof` is `prover`'s proof over `nonce`; `subtle.verify` compares in constant time. */
export async function verifyProof(
  key: CryptoKey,
  ids: { prover: number; verifier: number },
  nonce: string,
  proof: string,
): Promise<boolean> {
  const mac = fromHex(proof)
  if (mac === undefined) return false
  return await crypto.subtle.verify(
    "HMAC",
    key,
    mac,
    proofInput(ids.prover, ids.verifier, nonce),
  )
}

const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0
const isHex = (v: unknown, chars: number): v is string =>
  typeof v === "string" && v.length === chars && /^[0-9a-f]*$/.test(v)

/** Parse a control message, or undefined when it is not exactly one of the known shapes. */
export function parseControl(text: string): ControlMessage | undefined {
  if (text.length > CONTROL_CHARS_MAX) return undefined
  let m: Record<string, unknown>
  try {
    m = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) return undefined
  const keys = Object.keys(m).length
  switch (m.t) {
    case "hello":
      return keys === 5 && isId(m.from) && isId(m.to) && isHex(m.nonce, 2 * NONCE_BYTES) &&
          typeof m.shape === "string" && m.shape.length <= SHAPE_CHARS_MAX
        ? { t: "hello", from: m.from, to: m.to, nonce: m.nonce, shape: m.shape }
        : undefined
    case "challenge":
      return keys === 3 && isHex(m.nonce, 2 * NONCE_BYTES) && isHex(m.proof, 64)
        ? { t: "challenge", nonce: m.nonce, proof: m.proof }
        : undefined
    case "proof":
      return keys === 2 && isHex(m.proof, 64) ? { t: "proof", proof: m.proof } : undefined
    case "ready":
    case "beat":
    case "bye":
      return keys === 1 ? { t: m.t } : undefined
    default:
      return undefined
  }
}

/** The part of a link the handshake reads and writes (`PeerLink` in `peer_link.ts`). */
export interface HandshakeLink {
  peer: number
  readonly dialer: boolean
  nonce: string
  readonly state: string
  send(text: string): void
}

/** What the handshake needs from the endpoint. */
export interface HandshakeContext {
  readonly me: number
  readonly key: CryptoKey
  /** The cluster this node runs (`clusterShape`); a dialer must run the same. */
  readonly shape: string
  /** Why node `peer` may not have a link now (linked already, lost, closing), if so. */
  refusal(peer: number): string | undefined
  /** Both sides are authenticated: the link carries frames from now on. */
  open(link: HandshakeLink): void
}

/** One step of the handshake at either end; returns why the connection is refused, if it is. */
export async function handshakeStep(
  link: HandshakeLink,
  message: ControlMessage,
  ctx: HandshakeContext,
): Promise<string | undefined> {
  const me = ctx.me
  if (!link.dialer && message.t === "hello" && link.peer === -1) {
    const { from, to } = message
    if (to !== me) return `hello addressed to node ${to}`
    if (from >= me) return `node ${from} may not dial node ${me} (the lower id dials)`
    if (message.shape !== ctx.shape) return shapeMismatch(from, message.shape, ctx.shape)
    const refusal = ctx.refusal(from)
    if (refusal !== undefined) return refusal
    link.peer = from
    link.nonce = newNonce()
    const proof = await prove(ctx.key, { prover: me, verifier: from }, message.nonce)
    link.send(controlText({ t: "challenge", nonce: link.nonce, proof }))
    return undefined
  }
  if (!link.dialer && message.t === "proof" && link.peer !== -1) {
    const ids = { prover: link.peer, verifier: me }
    if (!(await verifyProof(ctx.key, ids, link.nonce, message.proof))) {
      return `node ${link.peer} failed the proof (wrong secret?)`
    }
    // Checked again after the await: another connection may have won meanwhile.
    const refusal = ctx.refusal(link.peer)
    if (refusal !== undefined) return refusal
    if (link.state === "closed") return undefined
    link.send(controlText({ t: "ready" }))
    ctx.open(link)
    return undefined
  }
  if (link.dialer && message.t === "challenge" && link.nonce !== ANSWERED) {
    const ids = { prover: link.peer, verifier: me }
    if (!(await verifyProof(ctx.key, ids, link.nonce, message.proof))) {
      return `node ${link.peer} failed the proof (wrong secret?)`
    }
    const proof = await prove(ctx.key, { prover: me, verifier: link.peer }, message.nonce)
    link.nonce = ANSWERED
    link.send(controlText({ t: "proof", proof }))
    return undefined
  }
  if (link.dialer && message.t === "ready" && link.nonce === ANSWERED) {
    const refusal = ctx.refusal(link.peer)
    if (refusal !== undefined) return refusal
    ctx.open(link)
    return undefined
  }
  return `unexpected '${message.t}' during the handshake`
}

/** A dialer's nonce once it has answered the challenge: only `ready` may come now. */
const ANSWERED = "-"

export const controlText = (message: ControlMessage): string => JSON.stringify(message)

/**
 * A short description of a cluster that every node of it must share: its
 * tables (name, keys, value length, in key order) and its policy (the name,
 * and a hash of all its settings, hot lists included). Tables longer than
 * `SHAPE_CHARS_MAX` allows keep their start and a hash of the whole.
 */
export function clusterShape(
  tables: readonly { readonly name: string; readonly keys: number; readonly length: number }[],
  policy: { readonly name: string },
): string {
  const policyPart = `policy ${policy.name} #${hashOf(JSON.stringify(policy))}`
  let tablesPart = `tables ${tables.map((t) => `${t.name}:${t.keys}x${t.length}`).join(" ")}`
  const room = SHAPE_CHARS_MAX - policyPart.length - 2
  if (tablesPart.length > room) {
    tablesPart = `${tablesPart.slice(0, room - 11)}… #${hashOf(tablesPart)}`
  }
  return `${tablesPart}; ${policyPart}`
}

/** FNV-1a, 32 bits, as 8 hex digits: a check of configuration, not of an adversary. */
function hashOf(text: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0).toString(16).padStart(8, "0")
}

/**
 * Why a dialer running cluster `theirs` is refused by one running `ours`:
 * the first part that differs (tables, or policy), short enough to travel
 * as the reason of the socket's close.
 */
export function shapeMismatch(from: number, theirs: string, ours: string): string {
  const a = theirs.split("; ")
  const b = ours.split("; ")
  let i = 0
  while (i < a.length - 1 && a[i] === b[i]) i++
  const cut = (s: string) => s.length > 32 ? `${s.slice(0, 29)}...` : s
  // Both parts begin with the same label ("tables ", "policy "): say it once.
  const label = /^\w+ /.exec(a[i] ?? "")?.[0] ?? ""
  const here = (b[i] ?? "").startsWith(label) ? (b[i] ?? "").slice(label.length) : b[i] ?? ""
  return `node ${from} runs another cluster: ${cut(a[i] ?? "")} there, ${cut(here)} here`
}
