/**
 * The listening side of the WebSocket transport: a `ws` server on loopback by
 * default, or behind a `node:https` server for `wss://` when given a
 * certificate and key. Both Deno (npm `ws`) and Bun (its built-in `ws`)
 * accept the `server` option. `maxPayload` caps a frame (`frameBytesMax`):
 * a bigger message closes its connection (code 1009).
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https"
import { WebSocketServer } from "ws"

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
  let https: HttpsServer | undefined
  let server: WebSocketServer
  if (options.tls) {
    https = createHttpsServer({ cert: options.tls.cert, key: options.tls.key })
    server = new WebSocketServer({ server: https, maxPayload })
    await new Promise<void>((resolve, reject) => {
      https!.once("error", reject)
      https!.listen(options.port ?? 0, host, () => resolve())
    })
  } else {
    server = new WebSocketServer({ host, port: options.port ?? 0, maxPayload })
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.once("listening", () => resolve())
    })
  }
  server.on("error", (error: Error) => {
    console.warn(`roam node ${options.id}: server error: ${error}`)
  })
  const address = (https ?? server).address() as { port: number }
  const scheme = options.tls ? "wss" : "ws"
  const urlHost = host.includes(":") ? `[${host}]` : host
  return { server, https, url: `${scheme}://${urlHost}:${address.port}` }
}
