/**
 * PromQL queries of the catalogue, made concrete for one pod (and model).
 *
 * A template names its labels as `${label}` placeholders. Each label given
 * replaces its placeholder; a label given that the template does not name is
 * injected into the template's first selector, right after the first `{`, as
 * `label="value",`. Values are escaped as PromQL string literals, so a model
 * name cannot break out of its quotes.
 */
import type { PromQLMetric } from "./MetricCatalogue.ts"

/** The port that `${instance}` names: Prometheus labels the engines' targets with it. */
export const INSTANCE_PORT = 8000

/** Label name -> value, in the order they are applied. */
export type QueryLabels = ReadonlyArray<readonly [label: string, value: string]>

/** Escapes a value for a double-quoted PromQL string literal. */
export const escapeLabelValue = (value: string): string =>
  value.replace(/[\\"\n]/g, (char) => (char === "\n" ? "\\n" : `\\${char}`))

/**
 * The query of a template with its labels applied; undefined when a placeholder
 * is left without a value (the query would be meaningless).
 */
export const buildQuery = (template: string, labels: QueryLabels): string | undefined => {
  let query = template
  for (const [label, value] of labels) {
    const placeholder = `\${${label}}`
    const escaped = escapeLabelValue(value)
    if (query.includes(placeholder)) {
      query = query.replaceAll(placeholder, escaped)
    } else {
      const brace = query.indexOf("{")
      if (brace >= 0) query = `${query.slice(0, brace + 1)}${label}="${escaped}",${query.slice(brace + 1)}`
    }
  }
  return /\$\{[^}]*\}/.test(query) ? undefined : query
}

/** The value of `${instance}` for a pod: its IP and the engines' port. */
export const instanceOf = (podIp: string): string => `${podIp}:${INSTANCE_PORT}`

/** One query to run: the metric it fills, for which model (pod scope: none), and the PromQL. */
export interface PodQuery {
  readonly metric: PromQLMetric
  readonly model: string | undefined
  readonly query: string
}

/**
 * The queries of the given metrics for one pod: a pod-scope metric once, a
 * pod-model-scope metric once per model of the pod.
 */
export const podQueries = (
  metrics: ReadonlyArray<PromQLMetric>,
  podIp: string,
  models: ReadonlyArray<string>
): ReadonlyArray<PodQuery> => {
  const instance: readonly [string, string] = ["instance", instanceOf(podIp)]
  const queries: Array<PodQuery> = []
  for (const metric of metrics) {
    if (metric.scope === "pod") {
      const query = buildQuery(metric.query, [instance])
      if (query !== undefined) queries.push({ metric, model: undefined, query })
      continue
    }
    for (const model of models) {
      const query = buildQuery(metric.query, [instance, ["model_name", model]])
      if (query !== undefined) queries.push({ metric, model, query })
    }
  }
  return queries
}
