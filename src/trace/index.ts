/** The per-model request trace: windows, token buckets, the flush to Redis, and the Redis client. */
export * as Redis from "./Redis.ts"
export * as RequestTrace from "./RequestTrace.ts"
export * as RequestTraceLayers from "./RequestTraceLayers.ts"
export * as TraceBacklog from "./TraceBacklog.ts"
export * as TraceBucket from "./TraceBucket.ts"
export * as TraceConfig from "./TraceConfig.ts"
export * as TraceFlush from "./TraceFlush.ts"
export * as TraceWindow from "./TraceWindow.ts"
