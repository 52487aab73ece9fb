/** Whether the gateway writes the request trace. */
import type { Config } from "effect"
import { envBoolean } from "../EnvConfig.ts"

/** `AIBRIX_GPU_OPTIMIZER_TRACING_FLAG` (default false): the gateway layer traces when true. */
export const traceEnabled: Config.Config<boolean> = envBoolean("AIBRIX_GPU_OPTIMIZER_TRACING_FLAG", false)
