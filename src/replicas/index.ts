/** Gateway replicas that share their running counts through Redis, in AIBrix's layout. */
export * as ReplicaConfig from "./ReplicaConfig.ts"
export * as ReplicaMetrics from "./ReplicaMetrics.ts"
export * as ReplicaScripts from "./ReplicaScripts.ts"
export * as ReplicaSync from "./ReplicaSync.ts"
export * as ReplicaSyncLayers from "./ReplicaSyncLayers.ts"
