/**
 * The client's `Watch`, made closable for good. The client's `ListWatch.stop()`
 * aborts only the request it holds: a list or a reconnect delay in progress at
 * that moment still goes on to open a new watch. Once closed, this watch opens
 * none and aborts every one it opened. It also asks for bookmarks, reports
 * each watch start (the informer has delivered its list by then), each watch
 * the server accepted and each event, and turns an error thrown before the request (credentials) into the
 * end of the watch, where the client expects it.
 *
 * It can also end its watches as if the server had answered 410 Gone, which
 * makes the client's informer list again, deliver the differences, and watch
 * from the new list's version: a relist with no gap in the event stream.
 */
import { type KubeConfig, Watch } from "@kubernetes/client-node"

export interface WatchHooks {
  /**
   * A watch is about to start: everything the informer listed before has been
   * delivered. True asks for a relist first: the watch then ends at once as Gone.
   */
  readonly onStart: () => boolean
  /** The server accepted a watch: its stream is open. */
  readonly onWatching: () => void
  /** The server sent an event line (bookmarks included). */
  readonly onEvent: () => void
  /** What the informer receives (and keeps) of an object the server sent. */
  readonly keep: (object: unknown) => unknown
}

/** Ends a watch the way the client's informer relists on: HTTP 410 Gone. */
const gone = (): Error => Object.assign(new Error("relist requested"), { statusCode: 410 })

/** A watch the server accepted, and how to end it exactly once. */
interface OpenWatch {
  readonly controller: AbortController
  readonly end: (error: unknown) => void
}

const abortedController = (): AbortController => {
  const controller = new AbortController()
  controller.abort()
  return controller
}

export class ClosableWatch extends Watch {
  readonly #hooks: WatchHooks
  readonly #open = new Set<OpenWatch>()
  #closed = false

  constructor(config: KubeConfig, hooks: WatchHooks) {
    super(config)
    this.#hooks = hooks
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void
  ): Promise<AbortController> {
    if (this.#closed) return abortedController()
    if (this.#hooks.onStart()) {
      done(gone())
      return abortedController()
    }
    let open: OpenWatch | undefined
    let ended = false
    const end = (error: unknown) => {
      if (ended) return
      ended = true
      if (open !== undefined) this.#open.delete(open)
      done(error)
    }
    const onEvent = (phase: string, object: unknown, event?: unknown) => {
      this.#hooks.onEvent()
      callback(phase, phase === "BOOKMARK" || phase === "ERROR" ? object : this.#hooks.keep(object), event)
    }
    let controller: AbortController
    try {
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, onEvent, end)
    } catch (error) {
      end(error)
      return abortedController()
    }
    // A watch that ended already (a refused request) was aborted by the client.
    if (controller.signal.aborted || ended) return controller
    if (this.#closed) {
      controller.abort()
      return controller
    }
    open = { controller, end }
    this.#open.add(open)
    this.#hooks.onWatching()
    return controller
  }

  /** Ends every open watch as Gone: the informer relists, then watches again. */
  endAsGone(): void {
    for (const open of Array.from(this.#open)) {
      open.end(gone())
      open.controller.abort()
    }
  }

  /** Aborts every open watch and refuses to open another. */
  close(): void {
    this.#closed = true
    for (const { controller } of this.#open) controller.abort()
    this.#open.clear()
  }

  get closed(): boolean {
    return this.#closed
  }
}

/** The client's reconnect delay, cut short when the signal aborts (it then resolves: nothing may reject). */
export const closableDelay =
  (signal: AbortSignal) =>
  (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve()
      const finish = () => {
        clearTimeout(timer)
        signal.removeEventListener("abort", finish)
        resolve()
      }
      const timer = setTimeout(finish, ms)
      signal.addEventListener("abort", finish, { once: true })
    })
