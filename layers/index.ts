/** Ready-made layers of aibrix-cache. */
export { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics, type PodMetrics } from "./test.ts"
export { withRequestTrace, withRequestTraceTo } from "./trace.ts"
export { kubernetesDiscovery, kubernetesDiscoveryWith, staticDiscovery } from "./discovery.ts"
