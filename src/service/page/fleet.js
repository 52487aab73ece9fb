// The fleet page: polls the service's feed once a period (one request per
// period, whatever the fleet's size), keeps each pod's last minutes of load,
// and draws the models, their pods, figures and charts with the DOM and
// inline SVG. No library, nothing loaded from anywhere but the service.

const FEED = "/page/feed"
const RETRY_MS = 2000
const SERIES = ["running", "waiting", "kv_cache", "gateway_running"]
const SVG = "http://www.w3.org/2000/svg"
const CHART_HEIGHT = 36

/** The page's state: the cursor of the last answer, that answer, and each pod's samples by key. */
const state = { cursor: undefined, feed: undefined, pods: new Map() }

/** An element with attributes and children (strings become text). */
const h = (tag, attributes = {}, ...children) => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value))
  }
  element.append(...children.filter((child) => child !== undefined && child !== null))
  return element
}

const svg = (tag, attributes = {}) => {
  const element = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value))
  return element
}

// ---- figures ---------------------------------------------------------------

const count = (value) => (value === null ? "–" : String(Math.round(value * 100) / 100))
const percent = (value) => (value === null ? "–" : `${(value * 100).toFixed(1)} %`)

const duration = (ms) => {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** How fresh the pod's engine values are, in words, and a class for its colour. */
const freshness = (pod) => {
  if (pod.age_ms === null) return pod.stale ? ["stale", "stale"] : ["no values yet", "none"]
  if (!pod.stale) return [pod.age_ms > 0 ? `fresh · ${duration(pod.age_ms)}` : "fresh", "fresh"]
  return [`stale · ${duration(pod.age_ms)} old`, "stale"]
}

// ---- state -----------------------------------------------------------------

const emptySeries = () => Object.fromEntries(SERIES.map((name) => [name, []]))

/** Takes an answer: replaces every history (full) or appends the new samples, and forgets pods that left. */
const apply = (feed) => {
  const pods = new Map()
  for (const pod of feed.pods) {
    const known = state.pods.get(pod.key)
    const series = feed.full || known === undefined || known.uid !== pod.uid ? emptySeries() : known.series
    for (const name of SERIES) {
      series[name].push(...pod.history[name])
      if (series[name].length > feed.window) series[name].splice(0, series[name].length - feed.window)
    }
    pods.set(pod.key, { uid: pod.uid, series, previous: known?.pod, pod })
  }
  state.pods = pods
  state.cursor = feed.cursor
  state.feed = feed
}

// ---- charts ----------------------------------------------------------------

/** The polylines of one series, split where a sample is unknown; x by sample, right-aligned to the window. */
const lines = (values, window, max, className) => {
  const offset = window - values.length
  const segments = []
  let points = []
  values.forEach((value, i) => {
    if (value === null) {
      if (points.length > 0) segments.push(points)
      points = []
      return
    }
    const y = CHART_HEIGHT - 1 - (Math.min(value, max) / max) * (CHART_HEIGHT - 2)
    points.push([offset + i, y])
  })
  if (points.length > 0) segments.push(points)
  return segments.map((segment) => {
    // A lone sample is drawn as a short dash, so it shows.
    const drawn = segment.length === 1 ? [[segment[0][0] - 0.5, segment[0][1]], segment[0]] : segment
    return svg("polyline", { class: className, points: drawn.map(([x, y]) => `${x},${y.toFixed(1)}`).join(" ") })
  })
}

const chart = (name, title, window, max, series) => {
  const element = svg("svg", {
    class: "chart",
    "data-chart": name,
    viewBox: `0 0 ${window - 1} ${CHART_HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": title
  })
  const label = svg("title")
  label.textContent = title
  element.append(
    label,
    svg("line", { class: "axis", x1: 0, x2: window - 1, y1: CHART_HEIGHT - 0.5, y2: CHART_HEIGHT - 0.5 })
  )
  for (const [values, className] of series) element.append(...lines(values, window, max, className))
  return element
}

/** Requests (engine running and waiting, the gateway's running) on a scale that fits them, and KV-cache usage on 0-100 %. */
const charts = (series, window) => {
  const peak = Math.max(1, ...[series.running, series.waiting, series.gateway_running].flat().filter((v) => v !== null))
  const top = peak <= 4 ? 4 : 2 ** Math.ceil(Math.log2(peak))
  return h(
    "div",
    { class: "charts" },
    h(
      "div",
      { class: "chart-box" },
      chart("requests", `requests, last ${window} s (scale 0-${top})`, window, top, [
        [series.waiting, "waiting"],
        [series.gateway_running, "gateway"],
        [series.running, "running"]
      ]),
      h("span", { class: "scale" }, String(top))
    ),
    h(
      "div",
      { class: "chart-box" },
      chart("kv_cache", `KV-cache usage, last ${window} s`, window, 1, [[series.kv_cache, "kv"]]),
      h("span", { class: "scale" }, "100 %")
    )
  )
}

// ---- the page --------------------------------------------------------------

/** A figure's cell; it flashes when its value changed since the last answer. */
const figure = (name, text, changed, extra) =>
  h("td", { class: `figure${changed ? " changed" : ""}`, "data-figure": name }, text, extra)

/** KV-cache usage as a bar (its width set through the CSSOM, which the page's CSP allows). */
const kvBar = (value) => {
  if (value === null) return undefined
  const fill = h("span")
  fill.style.width = `${Math.min(1, Math.max(0, value)) * 100}%`
  return h("span", { class: "bar" }, fill)
}

const podRow = (entry, window) => {
  const { pod, previous, series } = entry
  const was = previous?.metrics
  const changed = (name) => was !== undefined && was[name] !== pod.metrics[name]
  const [fresh, freshClass] = freshness(pod)
  return h(
    "tr",
    { "data-pod": pod.key, class: pod.ready ? "ready" : "unready" },
    h(
      "th",
      { scope: "row" },
      h("span", { class: "pod-name" }, pod.name),
      h("span", { class: "pod-where" }, `${pod.namespace} · ${pod.ip || "no IP"}`)
    ),
    h(
      "td",
      { "data-figure": "ready" },
      h("span", { class: `pill ${pod.ready ? "ok" : "off"}` }, pod.ready ? "ready" : "not ready")
    ),
    h("td", { "data-figure": "engine" }, h("span", { class: `engine engine-${pod.engine}` }, pod.engine)),
    figure("running", count(pod.metrics.num_requests_running), changed("num_requests_running")),
    figure("waiting", count(pod.metrics.num_requests_waiting), changed("num_requests_waiting")),
    figure(
      "kv_cache",
      percent(pod.metrics.gpu_cache_usage_perc),
      changed("gpu_cache_usage_perc"),
      kvBar(pod.metrics.gpu_cache_usage_perc)
    ),
    figure(
      "gateway_running",
      count(pod.metrics.realtime_num_requests_running),
      changed("realtime_num_requests_running")
    ),
    h("td", { "data-figure": "values" }, h("span", { class: `fresh ${freshClass}` }, fresh)),
    h("td", { class: "chart-cell" }, charts(series, window))
  )
}

/** The table's headings: [text, class]. */
const HEADINGS = [
  ["pod", "pod"],
  ["ready", "state"],
  ["engine", "state"],
  ["running", "num"],
  ["waiting", "num"],
  ["KV cache", "num kv"],
  ["gateway", "num"],
  ["values", "values"]
]

/** The charts' heading, with the key to their colours. */
const chartsHeading = (window) =>
  h(
    "th",
    { scope: "col", class: "charts-heading" },
    `last ${Math.round(window / 60)} min: `,
    h("span", { class: "key running" }, "running"),
    h("span", { class: "key waiting" }, "waiting"),
    h("span", { class: "key gateway" }, "gateway"),
    h("span", { class: "key kv" }, "KV cache")
  )

const modelSection = (model, feed) => {
  const rows = model.pods.map((key) => state.pods.get(key)).filter((entry) => entry !== undefined)
  const ready = rows.filter((entry) => entry.pod.ready).length
  const kind =
    model.parent === null
      ? h("span", { class: "kind" }, "base model")
      : h("span", { class: "kind adapter" }, `LoRA adapter of ${model.parent}`)
  return h(
    "section",
    { class: "model", "data-model": model.id },
    h(
      "h2",
      {},
      h("span", { class: "model-name" }, model.id),
      kind,
      h("span", { class: "count" }, `${ready}/${rows.length} pods ready`)
    ),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...HEADINGS.map(([heading, className]) => h("th", { scope: "col", class: className }, heading)),
          chartsHeading(feed.window)
        )
      ),
      h("tbody", {}, ...rows.map((entry) => podRow(entry, feed.window)))
    )
  )
}

const render = () => {
  const feed = state.feed
  const main = document.getElementById("fleet")
  const engines = [...new Set(feed.pods.map((pod) => pod.engine))].sort()
  const readyPods = feed.pods.filter((pod) => pod.ready).length
  const stalePods = feed.pods.filter((pod) => pod.stale).length
  document.getElementById("summary").textContent =
    `${feed.models.length} models · ${feed.pods.length} pods, ${readyPods} ready` +
    (stalePods > 0 ? `, ${stalePods} stale` : "") +
    (engines.length > 0 ? ` · engines: ${engines.join(", ")}` : "")
  if (feed.models.length === 0) {
    main.replaceChildren(
      h("p", { class: "empty" }, feed.ready ? "No pod serves a model." : "Waiting for the initial sync…")
    )
    return
  }
  main.replaceChildren(...feed.models.map((model) => modelSection(model, feed)))
}

const setStatus = (stateName, text) => {
  const status = document.getElementById("status")
  status.dataset.state = stateName
  status.textContent = text
}

const poll = async () => {
  let delay = RETRY_MS
  try {
    const url = state.cursor === undefined ? FEED : `${FEED}?cursor=${encodeURIComponent(state.cursor)}`
    const response = await fetch(url, { cache: "no-store" })
    if (response.status === 400) state.cursor = undefined
    if (!response.ok) throw new Error(`the feed answered ${response.status}`)
    const feed = await response.json()
    apply(feed)
    render()
    setStatus(
      feed.ready ? "live" : "syncing",
      `${feed.ready ? "live" : "syncing"} · ${new Date(feed.at).toLocaleTimeString()}`
    )
    delay = feed.period_ms
  } catch (error) {
    setStatus("offline", `offline (${error.message}), retrying`)
  }
  setTimeout(poll, delay)
}

poll()
