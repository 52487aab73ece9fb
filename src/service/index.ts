/** The HTTP service: command line, server, handlers, API schema and the views it serves. */
export * as FleetViews from "./FleetViews.ts"
export * as Service from "./Service.ts"
export * as ServiceApi from "./ServiceApi.ts"
export * as ServiceCli from "./ServiceCli.ts"
export * as ServiceLive from "./ServiceLive.ts"
export * as ServiceLog from "./ServiceLog.ts"
export * as ServiceServer from "./ServiceServer.ts"
export * as ServiceSource from "./ServiceSource.ts"
