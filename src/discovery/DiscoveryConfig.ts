/**
 * The settings of Kubernetes discovery read from the environment with Effect
 * `Config`; a bad value fails start-up naming the variable and the value.
 */
import { Config, Duration } from "effect"
import { envValue } from "../EnvConfig.ts"
import { labelSelectorProblem } from "./internal/LabelSelector.ts"

export const POD_LABEL_SELECTOR_VARIABLE = "AIBRIX_POD_LABEL_SELECTOR"
export const RELIST_INTERVAL_VARIABLE = "AIBRIX_KUBE_RELIST_INTERVAL_MS"

/** Five minutes between relists unless told otherwise. */
export const defaultRelistInterval: Duration.Duration = Duration.minutes(5)

/**
 * `AIBRIX_POD_LABEL_SELECTOR`: narrows the pod watch to the pods it selects
 * (unset or empty: every pod, kept when it names a model).
 */
export const podLabelSelectorConfig: Config.Config<string | undefined> = envValue<string | undefined>(
  POD_LABEL_SELECTOR_VARIABLE,
  undefined,
  "expected a Kubernetes label selector such as model.aibrix.ai/name or team=llm,model.aibrix.ai/name",
  (value) => (value === "" || labelSelectorProblem(value) === undefined ? value : undefined)
).pipe(Config.map((selector) => (selector === "" ? undefined : selector)))

/** `AIBRIX_KUBE_RELIST_INTERVAL_MS`: the time between full relists; 0 turns them off. */
export const relistIntervalConfig: Config.Config<Duration.Duration> = envValue(
  RELIST_INTERVAL_VARIABLE,
  defaultRelistInterval,
  "expected a whole number of milliseconds (0 turns the relist off)",
  (value) => {
    const millis = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return Number.isSafeInteger(millis) ? Duration.millis(millis) : undefined
  }
)
