/** Whether the gateway shares its running counts with its other replicas. */
import type { Config } from "effect"
import { envBoolean } from "../EnvConfig.ts"

/** `AIBRIX_REPLICA_SYNC` (default false): the gateway layer syncs with its other replicas through Redis when true. */
export const replicaSyncEnabled: Config.Config<boolean> = envBoolean("AIBRIX_REPLICA_SYNC", false)
