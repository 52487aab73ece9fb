/**
 * A fake Kubernetes API server for tests and benchmarks: an in-process HTTP
 * server on a free loopback port that speaks the list/watch protocol for pods
 * and ModelAdapters, and lets a test break it in every way the real one
 * breaks: watches ended cleanly or cut mid-stream, 410 Gone (as an `ERROR`
 * event or as an HTTP status), failing lists, slow lists, and events lost on
 * a watch that stays open.
 *
 * Like etcd, one resource version counts every change of every resource. Each
 * resource keeps the history of its changes since its last compaction, so a
 * watch can resume from an older version, or gets 410 when it is too old.
 */
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export type ResourceName = "pods" | "modeladapters"

const RESOURCES: Record<string, ResourceName> = {
  "/api/v1/pods": "pods",
  "/apis/model.aibrix.ai/v1alpha1/modeladapters": "modeladapters"
}

const LIST_KINDS: Record<ResourceName, { readonly apiVersion: string; readonly kind: string }> = {
  pods: { apiVersion: "v1", kind: "PodList" },
  modeladapters: { apiVersion: "model.aibrix.ai/v1alpha1", kind: "ModelAdapterList" }
}

type EventType = "ADDED" | "MODIFIED" | "DELETED"

interface Change {
  readonly resourceVersion: number
  readonly type: EventType
  readonly object: KubernetesObject
  readonly previous: KubernetesObject | undefined
}

interface Watcher {
  readonly response: http.ServerResponse
  readonly selector: Selector
}

interface ResourceState {
  readonly objects: Map<string, KubernetesObject>
  history: Array<Change>
  /** Changes after this version are all in `history`; a watch from before it gets 410. */
  compactedAt: number
  readonly watchers: Set<Watcher>
  /** HTTP statuses the next lists answer with, in order. */
  readonly listFailures: Array<number>
  listDelayMs: number
  /** How many of the next changes open watches never see (the watches stay open). */
  eventsToDrop: number
  lists: number
  watches: number
  readonly listWaiters: Array<{ readonly count: number; readonly resolve: () => void }>
}

// ---- label selectors ---------------------------------------------------------

type Selector = (labels: Readonly<Record<string, string>>) => boolean

const parseSelector = (text: string | null): Selector => {
  if (text === null || text.trim() === "") return () => true
  const terms = text
    .split(",")
    .map((term) => term.trim())
    .filter((term) => term !== "")
  const tests = terms.map((term): Selector => {
    const notEqual = term.indexOf("!=")
    if (notEqual > 0) {
      const key = term.slice(0, notEqual)
      const value = term.slice(notEqual + 2)
      return (labels) => labels[key] !== value
    }
    const equal = term.indexOf("=")
    if (equal > 0) {
      const key = term.slice(0, equal)
      const value = term.slice(term[equal + 1] === "=" ? equal + 2 : equal + 1)
      return (labels) => labels[key] === value
    }
    if (term.startsWith("!")) return (labels) => !(term.slice(1) in labels)
    return (labels) => term in labels
  })
  return (labels) => tests.every((test) => test(labels))
}

const labelsOf = (object: KubernetesObject | undefined): Readonly<Record<string, string>> =>
  object?.metadata?.labels ?? {}

const keyOf = (object: KubernetesObject): string => `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`

const withResourceVersion = <A extends KubernetesObject>(object: A, resourceVersion: number): A => ({
  ...object,
  metadata: { ...object.metadata, resourceVersion: String(resourceVersion) }
})

/** The change as a watcher with this selector sees it, if at all. */
const eventFor = (change: Change, selector: Selector): { type: EventType; object: KubernetesObject } | undefined => {
  const matchesNow = change.type !== "DELETED" && selector(labelsOf(change.object))
  const matchedBefore = change.previous !== undefined && selector(labelsOf(change.previous))
  if (change.type === "DELETED") return matchedBefore ? { type: "DELETED", object: change.object } : undefined
  if (matchesNow) return { type: matchedBefore ? "MODIFIED" : "ADDED", object: change.object }
  // The object left the selection: the watcher sees it deleted, as its last matching state.
  if (matchedBefore) {
    return { type: "DELETED", object: withResourceVersion(change.previous!, change.resourceVersion) }
  }
  return undefined
}

const line = (type: string, object: unknown): string => `${JSON.stringify({ type, object })}\n`

const goneStatus = {
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  message: "too old resource version",
  reason: "Expired",
  code: 410
}

export interface FakeKubernetesOptions {
  /** Answer a watch from a compacted version with HTTP 410 instead of an `ERROR` event. */
  readonly goneAsHttpStatus?: boolean
}

export class FakeKubernetes {
  readonly #server: http.Server
  readonly #resources = new Map<ResourceName, ResourceState>()
  readonly #options: FakeKubernetesOptions
  readonly #openRequests = new Set<http.IncomingMessage>()
  #resourceVersion = 1
  #requests = 0

  private constructor(server: http.Server, options: FakeKubernetesOptions) {
    this.#server = server
    this.#options = options
    for (const name of ["pods", "modeladapters"] as const) {
      this.#resources.set(name, {
        objects: new Map(),
        history: [],
        compactedAt: 1,
        watchers: new Set(),
        listFailures: [],
        listDelayMs: 0,
        eventsToDrop: 0,
        lists: 0,
        watches: 0,
        listWaiters: []
      })
    }
  }

  static async start(options: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
    let fake: FakeKubernetes | undefined
    const server = http.createServer((request, response) => fake!.#handle(request, response))
    fake = new FakeKubernetes(server, options)
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return fake
  }

  get url(): string {
    const address = this.#server.address() as AddressInfo
    return `http://127.0.0.1:${address.port}`
  }

  /** A kubeconfig for the fake: plain HTTP is allowed only with `insecure-skip-tls-verify`. */
  kubeConfigYaml(): string {
    return [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: fake",
      "  cluster:",
      `    server: ${this.url}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      "- name: tester",
      "  user:",
      "    token: fake-token",
      "contexts:",
      "- name: fake",
      "  context:",
      "    cluster: fake",
      "    user: tester",
      "current-context: fake",
      ""
    ].join("\n")
  }

  kubeConfig(): KubeConfig {
    const config = new KubeConfig()
    config.loadFromString(this.kubeConfigYaml())
    return config
  }

  close(): Promise<void> {
    for (const state of this.#resources.values()) {
      for (const watcher of state.watchers) watcher.response.destroy()
      state.watchers.clear()
    }
    this.#server.closeAllConnections()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  // ---- the cluster's state -----------------------------------------------------

  /** Creates or replaces an object; watchers see ADDED or MODIFIED (or DELETED if it left their selection). */
  put<A extends KubernetesObject>(resource: ResourceName, object: A): A {
    const state = this.#state(resource)
    const resourceVersion = ++this.#resourceVersion
    const stored = withResourceVersion(structuredClone(object), resourceVersion)
    const key = keyOf(stored)
    const previous = state.objects.get(key)
    state.objects.set(key, stored)
    this.#record(state, {
      resourceVersion,
      type: previous === undefined ? "ADDED" : "MODIFIED",
      object: stored,
      previous
    })
    return stored
  }

  /** Deletes an object if it exists; watchers that saw it see DELETED. */
  remove(resource: ResourceName, namespace: string, name: string): boolean {
    const state = this.#state(resource)
    const key = `${namespace}/${name}`
    const previous = state.objects.get(key)
    if (previous === undefined) return false
    state.objects.delete(key)
    const resourceVersion = ++this.#resourceVersion
    const object = withResourceVersion(previous, resourceVersion)
    this.#record(state, { resourceVersion, type: "DELETED", object, previous })
    return true
  }

  get(resource: ResourceName, namespace: string, name: string): KubernetesObject | undefined {
    return this.#state(resource).objects.get(`${namespace}/${name}`)
  }

  objects(resource: ResourceName): ReadonlyArray<KubernetesObject> {
    return Array.from(this.#state(resource).objects.values())
  }

  get resourceVersion(): number {
    return this.#resourceVersion
  }

  /** Forgets the history: a watch resuming from any version before now gets 410 Gone. */
  compact(resource?: ResourceName): void {
    for (const state of this.#select(resource)) {
      state.history = []
      state.compactedAt = this.#resourceVersion + 1
    }
  }

  // ---- breaking it ---------------------------------------------------------------

  /** Compacts, then tells every open watch 410 Gone (an `ERROR` event) and ends it. */
  expireWatches(resource?: ResourceName): void {
    this.compact(resource)
    for (const state of this.#select(resource)) {
      for (const watcher of state.watchers) watcher.response.end(line("ERROR", goneStatus))
      state.watchers.clear()
    }
  }

  /** Ends every open watch cleanly, as the server does after its timeout. */
  endWatches(resource?: ResourceName): void {
    for (const state of this.#select(resource)) {
      for (const watcher of state.watchers) watcher.response.end()
      state.watchers.clear()
    }
  }

  /** Cuts every open watch mid-stream: half an event line, then the connection drops. */
  cutWatches(resource?: ResourceName): void {
    for (const state of this.#select(resource)) {
      for (const watcher of state.watchers) {
        watcher.response.write('{"type":"MODIFIED","object":{"metadata":')
        watcher.response.socket?.destroy()
      }
      state.watchers.clear()
    }
  }

  /** Sends a BOOKMARK with the current version to every open watch that asked for bookmarks. */
  bookmark(resource?: ResourceName): void {
    for (const state of this.#select(resource)) {
      for (const watcher of state.watchers) {
        watcher.response.write(line("BOOKMARK", { metadata: { resourceVersion: String(this.#resourceVersion) } }))
      }
    }
  }

  /** The next `count` lists of the resource answer with this status. */
  failNextLists(resource: ResourceName, count: number, status = 500): void {
    const state = this.#state(resource)
    for (let i = 0; i < count; i++) state.listFailures.push(status)
  }

  /** Every list of the resource waits this long before it answers. */
  setListDelay(resource: ResourceName, ms: number): void {
    this.#state(resource).listDelayMs = ms
  }

  /**
   * The next `count` changes of the resource are lost on every open watch,
   * which stays open and says nothing (as behind a proxy that drops them);
   * lists and later watches see them.
   */
  dropNextEvents(resource: ResourceName, count: number): void {
    this.#state(resource).eventsToDrop += count
  }

  /**
   * Sends pre-serialized watch lines to every open watch of the resource at once
   * (for benchmarks: the server's own JSON work stays out of the measurement).
   */
  sendRaw(resource: ResourceName, lines: string | Uint8Array): void {
    for (const watcher of this.#state(resource).watchers) watcher.response.write(lines)
  }

  /** One watch line, as the server would send it. */
  static watchLine(type: EventType, object: KubernetesObject): string {
    return line(type, object)
  }

  // ---- what it saw -------------------------------------------------------------

  openWatches(resource?: ResourceName): number {
    let count = 0
    for (const state of this.#select(resource)) count += state.watchers.size
    return count
  }

  /** Requests still in progress (lists included), over every resource. */
  get openRequests(): number {
    return this.#openRequests.size
  }

  get requests(): number {
    return this.#requests
  }

  lists(resource: ResourceName): number {
    return this.#state(resource).lists
  }

  watches(resource: ResourceName): number {
    return this.#state(resource).watches
  }

  /** Resolves once the resource has been asked for `count` lists in all. */
  waitForLists(resource: ResourceName, count: number): Promise<void> {
    const state = this.#state(resource)
    if (state.lists >= count) return Promise.resolve()
    return new Promise((resolve) => state.listWaiters.push({ count, resolve }))
  }

  // ---- the protocol --------------------------------------------------------------

  #state(resource: ResourceName): ResourceState {
    return this.#resources.get(resource)!
  }

  #select(resource: ResourceName | undefined): ReadonlyArray<ResourceState> {
    return resource === undefined ? Array.from(this.#resources.values()) : [this.#state(resource)]
  }

  #record(state: ResourceState, change: Change): void {
    state.history.push(change)
    if (state.eventsToDrop > 0) {
      state.eventsToDrop--
      return
    }
    for (const watcher of state.watchers) {
      const event = eventFor(change, watcher.selector)
      if (event !== undefined) watcher.response.write(line(event.type, event.object))
    }
  }

  #handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.#requests++
    this.#openRequests.add(request)
    response.on("close", () => this.#openRequests.delete(request))
    const url = new URL(request.url ?? "/", "http://fake")
    const resource = RESOURCES[url.pathname]
    if (request.method !== "GET" || resource === undefined) {
      response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ kind: "Status", code: 404 }))
      return
    }
    const selector = parseSelector(url.searchParams.get("labelSelector"))
    if (url.searchParams.get("watch") === "true") this.#watch(resource, url, selector, response)
    else this.#list(resource, selector, response)
  }

  #list(resource: ResourceName, selector: Selector, response: http.ServerResponse): void {
    const state = this.#state(resource)
    state.lists++
    for (const waiter of state.listWaiters.filter((waiter) => waiter.count <= state.lists)) {
      state.listWaiters.splice(state.listWaiters.indexOf(waiter), 1)
      waiter.resolve()
    }
    const failure = state.listFailures.shift()
    const answer = () => {
      if (response.destroyed) return
      if (failure !== undefined) {
        response
          .writeHead(failure, { "content-type": "application/json" })
          .end(JSON.stringify({ kind: "Status", status: "Failure", code: failure, message: "injected failure" }))
        return
      }
      const items = Array.from(state.objects.values()).filter((object) => selector(labelsOf(object)))
      response.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ...LIST_KINDS[resource],
          metadata: { resourceVersion: String(this.#resourceVersion) },
          items
        })
      )
    }
    if (state.listDelayMs > 0) {
      const timer = setTimeout(answer, state.listDelayMs)
      response.on("close", () => clearTimeout(timer))
    } else answer()
  }

  #watch(resource: ResourceName, url: URL, selector: Selector, response: http.ServerResponse): void {
    const state = this.#state(resource)
    state.watches++
    const from = url.searchParams.get("resourceVersion") ?? ""
    const since = from === "" ? undefined : Number(from)
    if (since !== undefined && since < state.compactedAt - 1) {
      if (this.#options.goneAsHttpStatus === true) {
        response.writeHead(410, { "content-type": "application/json" }).end(JSON.stringify(goneStatus))
      } else {
        response.writeHead(200, { "content-type": "application/json" }).end(line("ERROR", goneStatus))
      }
      return
    }
    response.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" })
    // A watch with nothing to replay must still answer at once: the client waits for the headers.
    response.flushHeaders()
    if (since === undefined) {
      for (const object of state.objects.values()) {
        if (selector(labelsOf(object))) response.write(line("ADDED", object))
      }
    } else {
      for (const change of state.history) {
        if (change.resourceVersion <= since) continue
        const event = eventFor(change, selector)
        if (event !== undefined) response.write(line(event.type, event.object))
      }
    }
    const watcher: Watcher = { response, selector }
    state.watchers.add(watcher)
    response.on("close", () => state.watchers.delete(watcher))
  }
}
