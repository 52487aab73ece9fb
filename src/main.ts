/** The runnable service. Until it is built, it says so. */
console.log("aibrix-cache: the service is not built yet; the library is usable from src/index.ts and layers/index.ts.")
