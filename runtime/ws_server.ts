/**
 * The listening side of the WebSocket transport: a `ws` server on loopback by
 * default, or behind a `node:https` server for `wss://` when given a
 * certificate and key. Both Deno (npm `ws`) and Bun (its built-in `ws`)
 * accept the `server` option. `maxPayload` caps a frame (`frameBytesMax`):
 * a bigger message closes its connection (code 1009). An address that cannot
 * be bound (a port in use) fails with `TransportError` naming it, and leaves
 * nothing open behind it.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https"
import { WebSocketServer } from "ws"
import { TransportError } from "./transport.ts"

export interface ServerOptions {
  readonly id: number
  readonly host: string
  readonly port?: number
  readonly maxPayload: number
  readonly tls?: { readonly cert: string; readonly key: string }
}

/** Listen; resolves once the port is bound, with the URL other nodes dial. */
export async function openServer(
  options: ServerOptions,
): Promise<{ server: WebSocketServer; https: HttpsServer | undefined; url: string }> {
  const { host, maxPayload } = options
  const port = options.port ?? 0
  const urlHost = host.includes(":") ? `[${host}]` : host
  let https: HttpsServer | undefined
  let server: WebSocketServer | undefined
  try {
    if (options.tls) {
      https = createHttpsServer({ cert: options.tls.cert, key: options.tls.key })
      await new Promise<void>((resolve, reject) => {
        https!.once("error", reject)
        https!.listen(port, host, () => resolve())
      })
      // Made once the port is bound: a WebSocketServer re-emits its server's
      // errors, and one that failed to bind would have nobody to hear them.
      server = new WebSocketServer({ server: https, maxPayload })
    } else {
      const plain = server = new WebSocketServer({ host, port, maxPayload })
      await new Promise<void>((resolve, reject) => {
        plain.once("error", reject)
        plain.once("listening", () => resolve())
      })
    }
  } catch (error) {
    // Nothing is bound, but the servers exist: close them, so that nothing of
    // this attempt outlives its failure.
    await new Promise<void>((resolve) => server ? server.close(() => resolve()) : resolve())
    https?.close()
    throw new TransportError({ message: `cannot listen on ${urlHost}:${port}: ${why(error)}` })
  }
  server.on("error", (error: Error) => {
    console.warn(`roam node ${options.id}: server error: ${error}`)
  })
  const address = (https ?? server).address() as { port: number }
  const scheme = options.tls ? "wss" : "ws"
  return { server, https, url: `${scheme}://${urlHost}:${address.port}` }
}

/** Why a server could not listen, in words (the codes Deno and Bun report, as Node does). */
function why(error: unknown): string {
  switch ((error as { code?: unknown })?.code) {
    case "EADDRINUSE":
      return "the port is in use (EADDRINUSE)"
    case "EACCES":
      return "permission denied (EACCES): ports below 1024 need privileges"
    case "EADDRNOTAVAIL":
      return "the address is not one of this machine's (EADDRNOTAVAIL)"
    default:
      return String((error as { message?: unknown })?.message ?? error)
  }
}
