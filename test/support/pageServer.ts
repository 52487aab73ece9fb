/**
 * A loopback HTTP server that serves one page at one path, whole, or cut
 * after some bytes with its connection then dropped, as an engine that dies
 * mid-answer does; every other path answers 404.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

/** How the page is answered: whole, or cut after `bytes` with or without the whole page's content-length. */
export type PageAnswer =
  | { readonly _tag: "Whole" }
  | { readonly _tag: "Cut"; readonly bytes: number; readonly framing: "length" | "chunked" }

export class PageServer {
  readonly #server: Server
  readonly port: number
  path: string
  page: Uint8Array
  answer: PageAnswer = { _tag: "Whole" }
  requests = 0

  private constructor(server: Server, path: string, page: string | Uint8Array) {
    this.#server = server
    this.port = (server.address() as AddressInfo).port
    this.path = path
    this.page = typeof page === "string" ? Buffer.from(page) : page
  }

  static start(path: string, page: string | Uint8Array): Promise<PageServer> {
    return new Promise((resolve, reject) => {
      let pageServer: PageServer | undefined
      const server = createServer((request, response) => {
        const self = pageServer!
        if (request.url !== self.path) {
          response.writeHead(404).end("not found\n")
          return
        }
        self.requests++
        const { answer, page } = self
        if (answer._tag === "Whole") {
          response.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": page.length })
          response.end(page)
          return
        }
        const headers: Record<string, string | number> = { "content-type": "text/plain; version=0.0.4" }
        if (answer.framing === "length") headers["content-length"] = page.length
        response.writeHead(200, headers)
        response.flushHeaders()
        const part = page.subarray(0, answer.bytes)
        const drop = () => response.socket?.destroy()
        if (part.length === 0) setImmediate(drop)
        else response.write(part, () => setImmediate(drop))
      })
      server.keepAliveTimeout = 60_000
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () => {
        pageServer = new PageServer(server, path, page)
        resolve(pageServer)
      })
    })
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }
}
