/**
 * The client's `Watch`, made closable for good. The client's `ListWatch.stop()`
 * aborts only the request it holds: a list or a reconnect delay in progress at
 * that moment still goes on to open a new watch. Once closed, this watch opens
 * none and aborts every one it opened. It also asks for bookmarks, reports
 * each watch start (the informer has delivered its list by then), each watch
 * the server accepted and each event, and turns an error thrown before the request (credentials) into the
 * end of the watch, where the client expects it.
 */
import { type KubeConfig, Watch } from "@kubernetes/client-node"

export interface WatchHooks {
  /** A watch is about to start: everything the informer listed before has been delivered. */
  readonly onStart: () => void
  /** The server accepted a watch: its stream is open. */
  readonly onWatching: () => void
  /** The server sent an event line (bookmarks included). */
  readonly onEvent: () => void
}

const abortedController = (): AbortController => {
  const controller = new AbortController()
  controller.abort()
  return controller
}

export class ClosableWatch extends Watch {
  readonly #hooks: WatchHooks
  readonly #open = new Set<AbortController>()
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
    this.#hooks.onStart()
    let controller: AbortController | undefined
    const ended = (error: unknown) => {
      if (controller !== undefined) this.#open.delete(controller)
      done(error)
    }
    const onEvent = (phase: string, object: unknown, event?: unknown) => {
      this.#hooks.onEvent()
      callback(phase, object, event)
    }
    try {
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, onEvent, ended)
    } catch (error) {
      ended(error)
      return abortedController()
    }
    // A watch that ended already (a refused request) was aborted by the client.
    if (controller.signal.aborted) return controller
    if (this.#closed) {
      controller.abort()
      return controller
    }
    this.#open.add(controller)
    this.#hooks.onWatching()
    return controller
  }

  /** Aborts every open watch and refuses to open another. */
  close(): void {
    this.#closed = true
    for (const controller of this.#open) controller.abort()
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
